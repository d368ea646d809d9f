"""``escadre render kubernetes``: the project as manifests for ``kubectl apply -f``.

The output is multi-document YAML in a stable order (what others refer to first: Namespace, policies,
config maps, claims, Services, workloads, budgets, autoscalers, Ingresses, routes; by name within a kind),
so two renders of the same files are byte-identical and diff well in GitOps repositories. Its header says
what the file cannot carry: how to create each Secret (values are never rendered) and every value-level
approximation. Every object is validated against the chosen Kubernetes version before anything is printed.

Options: ``namespace`` (default: the project name), ``k8s_version`` (default 1.31), ``ingress_class``,
``gateway`` (the default parent Gateway), ``validate`` (default true).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from escadre.drivers.kubernetes.translate import Options, Translation, translate
from escadre.drivers.kubernetes.translate.common import DEFAULT_K8S_VERSION, Ctx, dns_label
from escadre.drivers.kubernetes.translate.config import create_command
from escadre.drivers.kubernetes.yamlout import dump_all
from escadre.model.project import Project


def options_from(project: Project, raw: Mapping[str, Any]) -> Options:
    return Options(
        namespace=str(raw.get("namespace") or dns_label(project.name)),
        k8s_version=str(raw.get("k8s_version") or DEFAULT_K8S_VERSION),
        ingress_class=raw.get("ingress_class"),
        gateway=raw.get("gateway"),
    )


def dump(objects: list[dict[str, Any]]) -> str:
    return dump_all(objects)


def _relative(project: Project, path: str) -> str:
    try:
        rel = os.path.relpath(path, project.working_dir)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def header(project: Project, options: Options, result: Translation) -> str:
    files = ", ".join(_relative(project, f) for f in project.files) or project.name
    lines = [
        f"# Rendered by Escadre from {files} for Kubernetes {options.k8s_version}.",
        f"# Apply with: kubectl apply -f FILE   (namespace {options.namespace})",
    ]
    if result.secrets:
        lines.append("# Secrets are never written here. Create them first:")
        ctx = Ctx(project, options)
        for source in result.secrets:
            command = create_command(ctx, source)
            if source.file is not None:
                command = command.replace(source.file, _relative(project, source.file))
            lines.append(f"#   {command}")
    if result.notes:
        lines.append("# Approximations (escadre check --target explains every key):")
        lines.extend(f"#   {note.path}: {note.message}" for note in result.notes)
    return "\n".join(lines) + "\n"


def render(project: Project, options: Mapping[str, Any]) -> str:
    """Multi-document YAML for ``kubectl apply -f``; raises ``SpecError`` for anything it cannot render."""
    opts = options_from(project, options)
    result = translate(project, opts)
    if options.get("validate", True):
        from escadre.drivers.kubernetes.validate import validate

        validate(result.objects, [opts.k8s_version])
    return header(project, opts, result) + dump(result.objects)


__all__ = ["options_from", "render"]
