"""The Compose Specification loader: Compose files in, an immutable ``Project`` out.

Public API::

    load_project(files=None, *, project_dir=None, project_name=None, env_files=None,
                 profiles=None, environ=None, check_files=True) -> Project
    load(...) -> LoadResult(project, warnings)
    discover_files(project_dir, environ=None) -> list[str]

Every user mistake is raised as :class:`escadre.core.errors.SpecError` with a ``file:line:column``
location. See :mod:`escadre.spec.loader` for the pipeline and which module does what.
"""

from escadre.spec.loader import LoadResult, discover_files, load, load_project, normalize_project_name

__all__ = ["LoadResult", "discover_files", "load", "load_project", "normalize_project_name"]
