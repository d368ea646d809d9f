"""What the Kubernetes target does with every Compose key (see ``escadre.drivers.support``).

Every key of the official schema's service definition and of the top-level networks, volumes, secrets and
configs is listed, and a test keeps it that way. Kompose drops ``depends_on``, ``logging``,
``security_opt`` and ``rollback_config`` without a word; here each key is **honoured**, **approximated**
(the note says with what), or **rejected** — this table uses no "ignored": a key whose effect Kubernetes
cannot give says what happens instead. Values that a key's translation cannot carry (a user *name*, a
``host-gateway`` alias, an unknown ``security_opt``) are refused by the translation itself with a
``file:line`` error, and value-level approximations are listed in the header of ``escadre render``.

docs/compose-support.md is generated from this table; docs/kubernetes.md explains the translation.
"""

from __future__ import annotations

from escadre.drivers.support import KeySupport, approximated, honoured, rejected

_H = honoured()
_NODE = "set on the nodes by the kubelet and the container runtime; not per pod"

SERVICE: dict[str, KeySupport] = {
    "annotations": honoured("pod annotations"),
    "attach": approximated("pods always run detached; read their output with escadre logs"),
    "blkio_config": approximated(f"block I/O weights and limits are {_NODE}"),
    "build": approximated("not built for a cluster: image: is pulled from its registry (push it first)"),
    "cap_add": honoured("securityContext.capabilities.add"),
    "cap_drop": honoured("securityContext.capabilities.drop"),
    "cgroup": approximated(f"the cgroup namespace is {_NODE}"),
    "cgroup_parent": rejected("pods are placed in the kubelet's cgroup hierarchy"),
    "command": honoured("the container's args"),
    "configs": honoured("ConfigMap mounted as a file (subPath); a checksum annotation rolls the pods on change"),
    "container_name": approximated("pods are named by their workload; other services reach it by service name"),
    "cpu_count": approximated("use deploy.resources.limits.cpus (resources.limits.cpu)"),
    "cpu_percent": approximated("use deploy.resources.limits.cpus (resources.limits.cpu)"),
    "cpu_period": approximated("with cpu_quota: limits.cpu = quota / period"),
    "cpu_quota": approximated("with cpu_period: limits.cpu = quota / period"),
    "cpu_rt_period": rejected("real-time scheduling is not available to pods"),
    "cpu_rt_runtime": rejected("real-time scheduling is not available to pods"),
    "cpu_shares": approximated("requests.cpu = shares / 1024 cores (when no reservation is given)"),
    "cpus": honoured("resources.limits.cpu"),
    "cpuset": approximated("CPU pinning is the kubelet's static CPU manager policy (Guaranteed pods)"),
    "credential_spec": rejected("Windows gMSA needs securityContext.windowsOptions, not generated"),
    "depends_on": approximated(
        "init containers wait for the dependency's Service (service_started/healthy); "
        "service_completed_successfully is waited for by escadre up"
    ),
    "deploy": _H,
    "deploy.replicas": honoured("spec.replicas (one workload per revision on a live target)"),
    "deploy.mode": honoured("replicated: Deployment (StatefulSet on request); global: DaemonSet"),
    "deploy.resources": honoured("limits → resources.limits, reservations → requests, GPUs → nvidia.com/gpu"),
    "deploy.resources.limits": honoured("cpus, memory (pids: per node, noted)"),
    "deploy.resources.reservations": honoured("cpus, memory, GPU devices"),
    "deploy.restart_policy": approximated(
        "condition none/on-failure makes a Job (max_attempts → backoffLimit); delay and window: kubelet back-off"
    ),
    "deploy.update_config": approximated(
        "parallelism and order → RollingUpdate maxSurge/maxUnavailable, monitor → minReadySeconds; "
        "escadre rollouts honour all of it"
    ),
    "deploy.rollback_config": approximated(
        "a failed rollout goes back to stable by Escadre's abort procedure (kubectl rollout undo otherwise)"
    ),
    "deploy.placement": approximated(
        "constraints → required node affinity, preferences → topology spread, max_replicas_per_node → anti-affinity"
    ),
    "deploy.labels": approximated("workload annotations (label values are restricted in Kubernetes)"),
    "deploy.endpoint_mode": approximated("vip: ClusterIP Service; dnsrr: use a headless Service"),
    "develop": approximated("compose watch is a development loop: nothing is synced to a cluster"),
    "device_cgroup_rules": rejected("device access needs a device plugin"),
    "devices": rejected("device access needs a device plugin (GPUs: deploy.resources.reservations.devices)"),
    "dns": approximated("dnsConfig.nameservers, after the cluster DNS (which stays first)"),
    "dns_opt": honoured("dnsConfig.options"),
    "dns_search": honoured("dnsConfig.searches"),
    "domainname": approximated("pod subdomain (resolves with a headless Service of that name)"),
    "entrypoint": honoured("the container's command"),
    "env_file": honoured("read at load time and merged under environment"),
    "environment": honoured("container env (values are never taken from secrets)"),
    "expose": honoured("Service ports"),
    "extends": honoured("resolved at load time"),
    "external_links": rejected("no containers outside the cluster to link: use a Service without selector"),
    "extra_hosts": honoured("hostAliases (host-gateway is refused)"),
    "gpus": approximated("resources.limits nvidia.com/gpu (needs the NVIDIA device plugin)"),
    "group_add": honoured("securityContext.supplementalGroups (numeric ids)"),
    "healthcheck": approximated(
        "readiness probe as Docker's health, plus startup and liveness probes: Kubernetes restarts a container "
        "that stays unhealthy, Docker does not (margins in docs/kubernetes.md)"
    ),
    "healthcheck.test": honoured("exec probe (CMD-SHELL runs /bin/sh -c)"),
    "healthcheck.interval": honoured("periodSeconds (whole seconds, rounded up)"),
    "healthcheck.timeout": honoured("timeoutSeconds (whole seconds, rounded up)"),
    "healthcheck.retries": honoured("readiness failureThreshold (liveness gets twice as many)"),
    "healthcheck.start_period": approximated("startup probe budget: start_period + retries × interval, ≥ 30 s"),
    "healthcheck.start_interval": honoured("startup probe periodSeconds"),
    "healthcheck.disable": honoured("no probes"),
    "hostname": honoured("pod hostname"),
    "image": honoured("pulled by the nodes from its registry; a digest in the reference pins it"),
    "init": approximated("shareProcessNamespace: the pod's pause process reaps zombies"),
    "ipc": approximated("host → hostIPC; private/shareable are the pod default; others are refused"),
    "isolation": rejected("Windows isolation modes are not set"),
    "label_file": honoured("read at load time and merged under labels"),
    "labels": approximated("pod annotations (Kubernetes label values are restricted)"),
    "links": approximated("every service is reachable by name through its Service; aliases are not created"),
    "logging": approximated(
        "the container runtime writes logs on the node (kubectl/escadre logs read them); "
        "driver and options belong to the cluster's log agent"
    ),
    "mac_address": rejected("pod networking assigns addresses"),
    "mem_limit": honoured("resources.limits.memory"),
    "mem_reservation": honoured("resources.requests.memory"),
    "mem_swappiness": approximated(f"swap behaviour is {_NODE}"),
    "memswap_limit": approximated(f"swap limits are {_NODE}"),
    "models": rejected("AI model runners are not supported"),
    "network_mode": approximated("host → hostNetwork; none and service:/container: modes are refused"),
    "networks": honoured("membership label + NetworkPolicy per network (aliases and fixed addresses are noted)"),
    "oom_kill_disable": approximated("the kubelet decides OOM handling by QoS class"),
    "oom_score_adj": approximated("set by the kubelet from the pod's QoS class"),
    "pid": approximated("host → hostPID; others are refused"),
    "pids_limit": approximated("per node: the kubelet's --pod-max-pids"),
    "platform": honoured("node affinity on kubernetes.io/os and kubernetes.io/arch"),
    "ports": approximated(
        "container ports of a ClusterIP Service; reachable from outside with x-kubernetes.service_type "
        "(NodePort/LoadBalancer) or x-kubernetes.expose; mode: host → hostPort"
    ),
    "post_start": approximated("lifecycle.postStart exec hook (user/environment of the hook do not apply)"),
    "pre_stop": approximated("lifecycle.preStop exec hook (user/environment of the hook do not apply)"),
    "privileged": honoured("securityContext.privileged"),
    "profiles": honoured("resolved at load time"),
    "provider": rejected("provider services are not supported"),
    "pull_policy": honoured("imagePullPolicy (build → IfNotPresent, periodic → Always)"),
    "pull_refresh_after": approximated("imagePullPolicy: Always"),
    "read_only": honoured("securityContext.readOnlyRootFilesystem"),
    "restart": honoured(
        '"no" → Job (never restarted), on-failure[:N] → Job (OnFailure, backoffLimit N), '
        "always and unless-stopped → Deployment"
    ),
    "runtime": approximated("runtimeClassName (a RuntimeClass of that name must exist)"),
    "scale": honoured("same as deploy.replicas"),
    "secrets": honoured("Secret mounted as a file (subPath); never in env; values never rendered"),
    "security_opt": honoured("no-new-privileges, seccomp, apparmor, SELinux labels (others are refused)"),
    "shm_size": honoured("an in-memory emptyDir on /dev/shm with that size"),
    "stdin_open": honoured("stdin"),
    "stop_grace_period": honoured("terminationGracePeriodSeconds"),
    "stop_signal": approximated("Kubernetes sends the image's STOPSIGNAL"),
    "storage_opt": approximated("use resources.limits ephemeral-storage (not generated)"),
    "sysctls": honoured("pod securityContext.sysctls (unsafe ones need the kubelet's allow-list)"),
    "tmpfs": honoured("an in-memory emptyDir (size limit kept)"),
    "tty": honoured("tty"),
    "ulimits": approximated(f"ulimits are {_NODE}"),
    "use_api_socket": rejected("there is no engine socket to mount in a cluster"),
    "user": honoured("runAsUser/runAsGroup (numeric ids; names are refused)"),
    "userns_mode": approximated("user namespaces are the pod's hostUsers setting, left to the cluster default"),
    "uts": approximated("the pod has its own UTS namespace (host is not available)"),
    "volumes": approximated(
        "named → PVC (StatefulSet claims on request), anonymous → emptyDir, tmpfs → in-memory emptyDir, "
        "bind → hostPath on the node; a new volume starts empty (the image's files are not copied)"
    ),
    "volumes_from": rejected("containers that share volumes belong in one pod"),
    "working_dir": honoured("workingDir"),
}

TOP_LEVEL: dict[str, KeySupport] = {
    "networks.*.name": honoured("NetworkPolicy name and pod membership label"),
    "networks.*.driver": approximated("pods use the cluster's network plugin"),
    "networks.*.driver_opts": approximated("pods use the cluster's network plugin"),
    "networks.*.ipam": approximated("the cluster assigns pod addresses"),
    "networks.*.internal": honoured("egress limited to the network's members and DNS"),
    "networks.*.attachable": approximated("every pod with the membership label joins the network"),
    "networks.*.enable_ipv6": approximated("IPv6 is a cluster setting (dual-stack)"),
    "networks.*.enable_ipv4": approximated("IPv4 is a cluster setting"),
    "networks.*.labels": approximated("NetworkPolicy annotations"),
    "networks.*.external": approximated("pods get the membership label; the network's owner defines its policy"),
    "volumes.*.name": honoured("PersistentVolumeClaim name"),
    "volumes.*.driver": approximated("a StorageClass chooses the driver (x-kubernetes.storage_class)"),
    "volumes.*.driver_opts": approximated("StorageClass parameters belong to the cluster"),
    "volumes.*.labels": approximated("PersistentVolumeClaim annotations"),
    "volumes.*.external": honoured("an existing PersistentVolumeClaim of that name; never created nor removed"),
    "secrets.*.name": honoured("Secret name"),
    "secrets.*.file": honoured("created from the file by the live driver; render prints the kubectl command"),
    "secrets.*.environment": honoured("created from the variable by the live driver"),
    "secrets.*.content": honoured("created from the content by the live driver"),
    "secrets.*.labels": approximated("Secret annotations"),
    "secrets.*.external": honoured(
        "an existing Secret of that name, referenced and never copied (key: the Compose key)"
    ),
    "secrets.*.driver": rejected("secret drivers are Swarm plugins; use external: with a CSI/External Secrets store"),
    "secrets.*.driver_opts": rejected("secret drivers are Swarm plugins"),
    "secrets.*.template_driver": rejected("templates need Swarm"),
    "configs.*.name": honoured("ConfigMap name"),
    "configs.*.file": honoured("ConfigMap data"),
    "configs.*.environment": honoured("ConfigMap data"),
    "configs.*.content": honoured("ConfigMap data"),
    "configs.*.labels": approximated("ConfigMap annotations"),
    "configs.*.external": honoured("an existing ConfigMap of that name (key: the Compose key)"),
    "configs.*.template_driver": rejected("templates need Swarm"),
}

TABLE: dict[str, KeySupport] = {**{f"services.*.{k}": v for k, v in SERVICE.items()}, **TOP_LEVEL}
