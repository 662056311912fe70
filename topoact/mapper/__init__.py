"""The Mapper core: lens -> cover -> clustering -> nerve, exact and fast; arrays in, MapperGraph out.

It knows no engine: where cover elements are clustered is a plug-in the caller passes,
``Mapper(engine=runner)`` with any :class:`ElementRunner` (``topoact.distributed.RayEngine``
is one).

>>> from topoact.mapper import Mapper
>>> graph = Mapper(lens="l2norm", n_intervals=30, overlap=0.3).fit(X).graph_  # doctest: +SKIP
"""

from topoact.mapper.builder import Mapper, check_data, mapper_graph
from topoact.mapper.bootstrap import bootstrap_graphs
from topoact.mapper.cluster import DBSCAN, choose_eps, dbscan, dbscan_labels
from topoact.mapper.cover import COVERS, BalancedCover, UniformCover, make_cover
from topoact.mapper.elements import ElementClustering
from topoact.mapper.graph import MapperGraph
from topoact.mapper.lens import (
    LENSES,
    ArrayLens,
    DensityLens,
    EccentricityLens,
    FunctionLens,
    KNNDistanceLens,
    NormLens,
    PCALens,
    StackedLens,
    make_lens,
)
from topoact.mapper.neighbors import EpsilonGraph
from topoact.mapper.nerve import nerve_edges
from topoact.mapper.protocols import Clusterer, Cover, ElementRunner

__all__ = [
    "Mapper", "MapperGraph", "mapper_graph", "check_data", "bootstrap_graphs",
    "Cover", "Clusterer", "ElementRunner", "ElementClustering",
    "DBSCAN", "dbscan", "choose_eps", "dbscan_labels", "EpsilonGraph", "nerve_edges",
    "UniformCover", "BalancedCover", "COVERS", "make_cover",
    "NormLens", "PCALens", "KNNDistanceLens", "DensityLens", "EccentricityLens",
    "ArrayLens", "FunctionLens", "StackedLens", "LENSES", "make_lens",
]
