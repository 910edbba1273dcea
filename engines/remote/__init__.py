"""The engines as Ray Serve deployments: the replica's side (``replica.EngineReplica``) and the
app's side (``remote_engine.RemoteEngine``, ``remote_manager.RemoteManager``). Ray is an
optional install (requirements-ray.txt); nothing here imports it until it is used."""

from .remote_engine import RemoteEngine
from .remote_manager import RemoteManager
from .replica import EngineReplica

__all__ = ["EngineReplica", "RemoteEngine", "RemoteManager"]
