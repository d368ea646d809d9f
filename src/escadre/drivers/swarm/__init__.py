"""The Docker Swarm driver (imports the ``docker`` SDK: import lazily)."""

from escadre.drivers.swarm.driver import SwarmDriver, from_target_config

__all__ = ["SwarmDriver", "from_target_config"]
