"""Every device of one host: where engines are placed (``placement``), one engine over several
devices (``pool``), the manager over them (``router``) and the choice between one device and
several (``factory.manager_from_env``)."""

from .factory import manager_from_env
from .placement import DevicePlan, DeviceSlot, plan_from_env
from .router import DeviceRouter

__all__ = ["manager_from_env", "DevicePlan", "DeviceSlot", "plan_from_env", "DeviceRouter"]
