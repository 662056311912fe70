"""The optional Ray engine: extraction with Ray Data and Mapper clustering as Ray tasks.

Everything here runs the same functional core as the local engine and gives the same
result (the same activations bit for bit on the same hardware, the same Mapper graph);
only where the work runs changes.

* Extraction (:func:`topoact.distributed.extract.extract_to_shards`): the selected
  dataset rows are cut into blocks of whole forward batches; Ray Data streams the
  blocks through a pool of actors that each hold one copy of the model (GPU actors
  with ``device="cuda"``); every block becomes one Parquet shard per layer, which the
  DuckDB cache registers and reads in place.
* Mapper (:func:`topoact.distributed.mapper.cluster_elements`): every cover element
  is clustered by one Ray task, largest first, reading the data from the object store
  (one shared copy per node); the nerve is built here, in the calling process.

Start with ``get_or_extract(..., engine="ray")`` or ``Mapper(engine=RayEngine())`` (the
Mapper core knows no engine: :class:`RayEngine` is a plug-in that implements its
``ElementRunner`` protocol), or
``python -m topoact extract|mapper ... --engine ray``. Ray is an optional install
(``pip install -r requirements-ray.txt``); without it only the Ray engine is missing.
"""

from topoact.distributed.engine import ENGINES, RayEngine, ray_session, require_ray, resolve_engine

__all__ = ["ENGINES", "RayEngine", "ray_session", "require_ray", "resolve_engine"]
