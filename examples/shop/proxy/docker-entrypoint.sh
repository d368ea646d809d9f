#!/bin/bash
# Proxy entrypoint.
#   docker-entrypoint.sh healthcheck   exit 0 when nginx answers GET /healthz with 200 (no curl needed)
#   docker-entrypoint.sh nginx ...     write /run/nginx/upstreams.conf, then exec nginx
#
# nginx resolves a proxy_pass *variable* at request time through `resolver` (valid=2s), so replicas
# that are replaced during a rollout are followed; a plain `proxy_pass http://api:8000` would pin the
# addresses seen at start-up. nginx's resolver ignores the resolv.conf search list, so a bare service
# name is qualified here with the first search domain in which it resolves (Kubernetes:
# api.<namespace>.svc.cluster.local); on Docker the bare name resolves as is.
#
# Env: API_UPSTREAM (default api:8000), WEB_UPSTREAM (default web:8080).
set -euo pipefail

if [[ "${1:-}" == healthcheck ]]; then
  exec 3<>/dev/tcp/127.0.0.1/80
  printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
  IFS= read -r -t 2 status <&3
  [[ "$status" == "HTTP/1."?" 200"* ]]
  exit
fi

log() { echo "proxy-entrypoint: $*" >&2; }

search_domains="$(awk '$1 == "search" || $1 == "domain" { for (i = 2; i <= NF; i++) print $i }' /etc/resolv.conf)"
resolvers="$(awk '$1 == "nameserver" { ip = $2; sub(/%.*/, "", ip); if (ip ~ /:/) ip = "[" ip "]"; printf "%s ", ip }' /etc/resolv.conf)"
resolvers="${resolvers:-127.0.0.11 }"

qualify() {  # host:port -> the same with the host name nginx's resolver can look up
  local host="${1%:*}" port="${1##*:}" domain
  if [[ "$host" != *.* && "$host" != localhost ]]; then
    for domain in $search_domains; do
      if getent hosts "$host.$domain." >/dev/null 2>&1; then
        echo "$host.$domain:$port"
        return
      fi
    done
  fi
  echo "$host:$port"
}

if [[ "${1:-}" == nginx ]]; then
  api="$(qualify "${API_UPSTREAM:-api:8000}")"
  web="$(qualify "${WEB_UPSTREAM:-web:8080}")"
  mkdir -p /run/nginx
  cat >/run/nginx/upstreams.conf.tmp <<CONF
resolver ${resolvers}valid=2s ipv6=off;
resolver_timeout 2s;
set \$api_upstream http://$api;
set \$web_upstream http://$web;
CONF
  mv -f /run/nginx/upstreams.conf.tmp /run/nginx/upstreams.conf
  log "api -> $api, web -> $web, resolver ${resolvers% }"
fi

exec "$@"
