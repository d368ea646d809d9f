"""What the Docker engine and Docker Swarm drivers share: the Engine API connection and its error
translation, image builds and pulls, and Escadre's HAProxy router. Both drivers import from here; neither
imports the other. This package imports the ``docker`` SDK: import it lazily."""
