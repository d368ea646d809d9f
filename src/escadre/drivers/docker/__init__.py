"""The Docker engine driver (imports the ``docker`` SDK: import lazily)."""

from escadre.drivers.docker.driver import DockerDriver, from_target_config

__all__ = ["DockerDriver", "from_target_config"]
