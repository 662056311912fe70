// Streamlit custom component (v1 protocol, no build step): draws a topoact graph view with
// vis-network and sends the clicked node back to Python with setComponentValue.
(function () {
  "use strict";
  const container = document.getElementById("graph");
  let network = null;
  let nodes = null;
  let edges = null;
  let structureKey = null;
  let clicks = 0;
  // The last node / edge objects as Python sent them, by id: a rerun on the same graph
  // (recolour, fade, edge filter) updates only the items whose fields changed and keeps
  // the tooltip elements whose HTML did not change.
  let sentNodes = new Map();
  let sentEdges = new Map();

  function send(type, data) {
    window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type: type }, data || {}), "*");
  }

  // Tooltips arrive as HTML whose data-derived parts Python already escaped;
  // vis-network shows a string title as plain text, an element as HTML.
  function tooltipElement(markup) {
    const element = document.createElement("div");
    element.innerHTML = markup;
    return element;
  }

  function prepareNodes(list) {
    return list.map(function (node) {
      const copy = Object.assign({}, node);
      copy.title = tooltipElement(node.title || "");
      return copy;
    });
  }

  function byId(list) {
    const map = new Map();
    list.forEach(function (item) { map.set(item.id, item); });
    return map;
  }

  // The fields of ``item`` that differ from ``before`` (with the id), or null if none.
  function changes(item, before) {
    const diff = { id: item.id };
    let changed = false;
    Object.keys(item).forEach(function (field) {
      if (JSON.stringify(item[field]) !== JSON.stringify(before === undefined ? undefined : before[field])) {
        diff[field] = item[field];
        changed = true;
      }
    });
    return changed ? diff : null;
  }

  function updateInPlace(nodeList, edgeList) {
    const nodeDiffs = [];
    nodeList.forEach(function (node) {
      const diff = changes(node, sentNodes.get(node.id));
      if (diff !== null) {
        if ("title" in diff) {
          diff.title = tooltipElement(node.title || "");
        }
        nodeDiffs.push(diff);
      }
    });
    const edgeDiffs = [];
    edgeList.forEach(function (edge) {
      const diff = changes(edge, sentEdges.get(edge.id));
      if (diff !== null) {
        edgeDiffs.push(diff);
      }
    });
    if (nodeDiffs.length) {
      nodes.update(nodeDiffs);
    }
    if (edgeDiffs.length) {
      edges.update(edgeDiffs);
    }
    container.dataset.lastUpdate = nodeDiffs.length + " nodes, " + edgeDiffs.length + " edges";
  }

  function onClick(params) {
    if (!params.nodes || params.nodes.length === 0) {
      return;
    }
    clicks += 1;
    send("streamlit:setComponentValue", { value: { node: params.nodes[0], click: clicks }, dataType: "json" });
  }

  function render(args) {
    const height = args.height || 560;
    container.style.height = height + "px";
    const rawNodes = args.nodes || [];
    const edgeList = args.edges || [];
    if (network !== null && args.structure_key === structureKey) {
      updateInPlace(rawNodes, edgeList);   // recolour / fade in place: positions and camera stay
    } else {
      if (network !== null) {
        network.destroy();
      }
      nodes = new vis.DataSet(prepareNodes(rawNodes));
      edges = new vis.DataSet(edgeList);
      network = new vis.Network(container, { nodes: nodes, edges: edges }, args.options || {});
      network.on("click", onClick);
      structureKey = args.structure_key;
      window.topoactNetwork = network;
      network.fit({ animation: false });
      container.dataset.lastUpdate = "full";
    }
    sentNodes = byId(rawNodes);
    sentEdges = byId(edgeList);
    if (args.selected && nodes.get(args.selected)) {
      network.selectNodes([args.selected]);
    } else {
      network.unselectAll();
    }
    container.dataset.nodeCount = String(nodes.length);
    container.dataset.edgeCount = String(edges.length);
    container.dataset.visibleEdgeCount = String(edgeList.filter(function (e) { return !e.hidden; }).length);
    container.dataset.structureKey = String(structureKey);
    container.dataset.ready = "1";
    send("streamlit:setFrameHeight", { height: height + 4 });
  }

  window.addEventListener("message", function (event) {
    const data = event.data || {};
    if (data.type === "streamlit:render") {
      render(data.args || {});
    }
  });
  send("streamlit:componentReady", { apiVersion: 1 });
})();
