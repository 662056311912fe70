"""What each Mapper node "sees": feature visualizations, exemplars, and their text equivalent.

Vision models
-------------
:func:`node_visualization` optimises an input image so that the layer's activation
(at the node's sampled position, or pooled) points along the node's mean activation
vector: activation atlases' direction objective on a decorrelated Fourier image with
random shifts, rotations and scales (:mod:`topoact.featvis.render`,
:mod:`topoact.featvis.image_param`). :func:`node_exemplars` gives, per top class of the
node, the members closest to its mean as image patches. Both are cached as PNG bytes in
the DuckDB store, keyed by model, layer and node content (:mod:`topoact.featvis.node`).

Text models
-----------
:func:`text_featvis`: the members nearest the node's mean, sentences with the sampled
token highlighted, and the vocabulary tokens whose input embeddings align with it.

Why not torch-lucent
--------------------
torch-lucent 0.1.8 (the maintained PyTorch port of Lucid) installs only with
``kornia<=0.4.1`` and pulls pytest, coveralls and IPython in at run time; on torch 2.14
it runs, but normalises every input with ImageNet statistics and upsamples to 224 px
(the 1-channel digits models need its preprocessing switched off), swallows forward
errors, runs the whole network each step, and draws its transforms from the global
NumPy and torch generators. The parameterisation here is the same recipe in ~100 lines,
seeded by a private ``torch.Generator`` and stopping the forward pass at the layer.
"""

import importlib

from topoact.featvis.errors import FeatvisError

# Everything else imports torch: loaded on first use (the CLI's --help stays fast).
_LAZY = {
    "RenderParams": "render", "Visualization": "render", "Where": "render",
    "activation_cosines": "render", "visualize_direction": "render", "DEFAULT_RENDER_SIZE": "render",
    "Exemplar": "exemplars", "nearest_members": "exemplars", "exemplar_patches": "exemplars",
    "ClassExemplars": "node", "ExemplarImage": "node", "node_direction": "node", "node_exemplars": "node",
    "node_members": "node", "node_visualization": "node", "node_where": "node",
    "stored_visualization": "node", "stored_visualizations": "node",
    "VISUALIZATION_KIND": "node", "EXEMPLARS_KIND": "node",
    "TextExample": "text", "TextFeatvis": "text", "aligned_vocabulary": "text", "text_featvis": "text",
    "highlighted_html": "text", "token_span": "text",
    "to_png": "images", "from_png": "images", "png_data_uri": "images", "resized_png": "images",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"topoact.featvis.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'topoact.featvis' has no attribute {name!r}")


__all__ = ["FeatvisError", *_LAZY]
