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
    const nodeList = prepareNodes(args.nodes || []);
    const edgeList = args.edges || [];
    if (network !== null && args.structure_key === structureKey) {
      nodes.update(nodeList);   // recolour / fade in place: positions and camera stay
      edges.update(edgeList);
    } else {
      if (network !== null) {
        network.destroy();
      }
      nodes = new vis.DataSet(nodeList);
      edges = new vis.DataSet(edgeList);
      network = new vis.Network(container, { nodes: nodes, edges: edges }, args.options || {});
      network.on("click", onClick);
      structureKey = args.structure_key;
      window.topoactNetwork = network;
      network.fit({ animation: false });
    }
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
