"""Container healthcheck: exit 0 when GET /api/health answers 200 (the API reaches Redis and Postgres)."""

import os
import sys
import urllib.request

url = f"http://127.0.0.1:{os.environ.get('API_PORT', '8000')}/api/health"
try:
    with urllib.request.urlopen(url, timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:  # 503, refused, timeout: all unhealthy
    print(f"unhealthy: {exc}", file=sys.stderr)
    sys.exit(1)
