#!/usr/bin/env bash
# Serve the lab from N app processes (replicas) behind Debian's nginx on one port.
#
#   bash scripts/serve.sh 2            # two replicas on 127.0.0.1:8501-8502, nginx on :8080
#   bash scripts/serve.sh stop         # stop what a serve.sh in the background started
#
# Settings (environment):
#   UNROLLED_LISTEN      address:port nginx listens on (default 0.0.0.0:8080; 127.0.0.1:8080 for this
#                        machine only)
#   UNROLLED_BASE_PORT   first replica port (default 8501); replicas listen on 127.0.0.1 only
#   UNROLLED_RUN_DIR     pid files, the generated nginx.conf, logs (default .run/serve in the repository)
#   UNROLLED_PYTHON      interpreter with streamlit (default .venv/bin/python, else python3)
#   UNROLLED_ALLOWED_HOSTS  host names the browsers use, separated by spaces (default: the listen address's
#                        host, or this machine's names and addresses when it listens on all of them, and
#                        localhost/127.0.0.1/::1); a replica refuses a websocket whose Host is not in it
#                        (Streamlit's server.allowedHosts: DNS rebinding)
#   UNROLLED_CONN_PER_IP connections in progress per client address (default 256; 0: no limit)
#   UNROLLED_REQ_PER_IP  requests per second per client address (default 50, bursts of 4 times that; the
#                        page's static files: 20 times that; 0: no limit)
#   UNROLLED_ROOMS_URL   where classroom rooms live (redis://host:port/db). Unset and N > 1: this script
#                        starts Debian's redis-server on 127.0.0.1:UNROLLED_REDIS_PORT (default 6390),
#                        without persistence, and gives every replica its address, so a teacher on one
#                        replica and students on another share the room. N = 1: rooms stay in memory.
#
# Every Streamlit session lives in the memory of one replica, so all of a browser's requests, and above all
# its websocket (/_stcore/stream), must reach the same replica. nginx gives each new browser a random
# cookie (one of this run's values, below) and routes by a consistent hash of that cookie. Hashing the client address
# instead (ip_hash, `hash $remote_addr`) would send a whole lecture hall behind one NAT address to one
# replica; a cookie spreads the students evenly whatever their addresses, and a replica that stops
# answering only moves its own students (consistent hashing). Open-source nginx has no `sticky cookie`
# directive (that is nginx Plus), hence the map + hash below.
#
# A cookie the client chose is not trusted: each run draws a pool of random cookie values (from
# /dev/urandom, only in the generated nginx.conf, mode 600) and gives every new browser one of them
# (split_clients on nginx's random $request_id). A request whose cookie is not one of this run's is
# treated as a new browser: a fresh value, a new Set-Cookie, routed by that value. So nobody picks a
# replica by writing a cookie of their own (or steers a hall onto one replica). Open-source nginx has no
# HMAC to sign a per-browser id with (secure_link can check an MD5 but not compute one for a new
# cookie), so the issued values are the secret; a few browsers sharing one of 2000 values changes nothing
# (the cookie only picks the replica; Streamlit keeps the sessions apart).
#
# Per client address, at most UNROLLED_CONN_PER_IP connections at once (a websocket counts for its whole
# life, an idle keep-alive connection does not) and UNROLLED_REQ_PER_IP requests per second: more are
# answered 429. A whole lecture hall may share one NAT address: one websocket per open tab, and a first
# visit fetches some 125 static files (scripts, styles, fonts; cached by the browser for a year after),
# hence generous defaults and a separate, 20 times larger budget for /static/. nginx does not see the
# messages inside a websocket: a slider move is not a request here (heavy work queues in the app itself).
# Every answer, errors and 429s included, says X-Content-Type-Options: nosniff, Referrer-Policy:
# same-origin and X-Frame-Options: SAMEORIGIN (the app frames no page of its own; no other site may).
#
# nginx runs without root: the config, pid file, logs and temp paths are in the run directory, and it
# stays in the foreground (`daemon off`) under this script. Ctrl-C, SIGTERM or `serve.sh stop` stop
# nginx and every replica. /_stcore/metrics is refused at the proxy (it lists the app's caches).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUN_DIR="${UNROLLED_RUN_DIR:-$ROOT/.run/serve}"
LISTEN="${UNROLLED_LISTEN:-0.0.0.0:8080}"
BASE_PORT="${UNROLLED_BASE_PORT:-8501}"
CONN_PER_IP="${UNROLLED_CONN_PER_IP:-256}"
REQ_PER_IP="${UNROLLED_REQ_PER_IP:-50}"
NGINX="${UNROLLED_NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
if [ -n "${UNROLLED_PYTHON:-}" ]; then PY="$UNROLLED_PYTHON"
elif [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"
else PY=python3; fi

stop_all() {
    # Stop what the pid files name: nginx first (no new requests), then the replicas' process groups.
    local f pid
    for f in "$RUN_DIR"/nginx.pid "$RUN_DIR"/replica-*.pid "$RUN_DIR"/redis.pid; do
        [ -f "$f" ] || continue
        pid="$(cat "$f" 2>/dev/null || true)"
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            if [[ "$f" == */replica-*.pid ]]; then kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            else kill -TERM "$pid" 2>/dev/null || true; fi
        fi
    done
    for _ in $(seq 50); do
        local alive=0
        for f in "$RUN_DIR"/nginx.pid "$RUN_DIR"/replica-*.pid "$RUN_DIR"/redis.pid; do
            [ -f "$f" ] || continue
            pid="$(cat "$f" 2>/dev/null || true)"
            [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ "$alive" -eq 0 ] && break
        sleep 0.2
    done
    for f in "$RUN_DIR"/nginx.pid "$RUN_DIR"/replica-*.pid "$RUN_DIR"/redis.pid; do
        [ -f "$f" ] || continue
        pid="$(cat "$f" 2>/dev/null || true)"
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            if [[ "$f" == */replica-*.pid ]]; then kill -KILL -- "-$pid" 2>/dev/null || true
            else kill -KILL "$pid" 2>/dev/null || true; fi
        fi
        rm -f "$f"
    done
}

if [ "${1:-}" = "stop" ]; then
    # ask the serve.sh that runs them (its trap stops everything), then clean up whatever is left
    touch "$RUN_DIR/stopping" 2>/dev/null || true
    if [ -f "$RUN_DIR/serve.pid" ] && kill -TERM "$(cat "$RUN_DIR/serve.pid")" 2>/dev/null; then
        for _ in $(seq 75); do kill -0 "$(cat "$RUN_DIR/serve.pid" 2>/dev/null)" 2>/dev/null || break; sleep 0.2; done
    fi
    stop_all
    rm -f "$RUN_DIR/serve.pid" "$RUN_DIR/stopping"
    exit 0
fi

N="${1:-2}"
if ! [[ "$N" =~ ^[0-9]+$ ]] || [ "$N" -lt 1 ] || [ "$N" -gt 64 ]; then
    echo "usage: $0 N (1-64 replicas) | $0 stop" >&2
    exit 2
fi
for v in CONN_PER_IP REQ_PER_IP; do
    if ! [[ "${!v}" =~ ^[0-9]+$ ]]; then
        echo "UNROLLED_$v must be a whole number (0: no limit), not '${!v}'" >&2
        exit 2
    fi
done
if [ ! -x "$NGINX" ]; then
    echo "nginx not found: apt-get install nginx (Debian's package; it is not started as a service here)" >&2
    exit 1
fi
for f in "$RUN_DIR"/replica-*.pid "$RUN_DIR"/nginx.pid; do
    if [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then
        echo "already running (see $RUN_DIR); stop it first: $0 stop" >&2
        exit 1
    fi
done

mkdir -p "$RUN_DIR/logs" "$RUN_DIR/tmp"
rm -f "$RUN_DIR"/replica-*.pid "$RUN_DIR"/nginx.pid "$RUN_DIR"/redis.pid "$RUN_DIR/stopping"
echo $$ >"$RUN_DIR/serve.pid"
# nginx's workers run as `nobody` when it is started as root: they must reach the temp paths
chmod 755 "$RUN_DIR" "$RUN_DIR/tmp"
trap 'trap - INT TERM EXIT; touch "$RUN_DIR/stopping"; stop_all; rm -f "$RUN_DIR/serve.pid"' INT TERM EXIT

# ---- the host names the replicas accept on their websocket
listen_host="${LISTEN%:*}"
[[ "$LISTEN" == *:* ]] || listen_host="*"            # `listen 8080`: every address
listen_host="${listen_host#[}"; listen_host="${listen_host%]}"
if [ -n "${UNROLLED_ALLOWED_HOSTS:-}" ]; then
    read -r -a hosts <<<"$UNROLLED_ALLOWED_HOSTS"
else
    case "$listen_host" in
        ""|"*"|0.0.0.0|::) read -r -a hosts <<<"$(hostname 2>/dev/null || true) $(hostname -f 2>/dev/null || true) $(hostname -I 2>/dev/null || true)" ;;
        *) hosts=("$listen_host") ;;
    esac
    hosts+=(localhost 127.0.0.1 ::1)
fi
host_args=()
declare -A seen_host=()
for h in "${hosts[@]}"; do
    [ -n "$h" ] && [ -z "${seen_host[$h]:-}" ] || continue
    seen_host[$h]=1
    host_args+=(--server.allowedHosts "$h")
done

# ---- where the classroom rooms live: one Redis for all replicas
REDIS_PORT="${UNROLLED_REDIS_PORT:-6390}"
if [ -z "${UNROLLED_ROOMS_URL:-}" ] && [ "$N" -gt 1 ]; then
    REDIS="${UNROLLED_REDIS:-$(command -v redis-server || echo /usr/bin/redis-server)}"
    if [ ! -x "$REDIS" ]; then
        echo "redis-server not found: apt-get install redis-server (Debian's package), or set UNROLLED_ROOMS_URL;" \
             "without it a classroom works only for students on the teacher's replica" >&2
        exit 1
    fi
    "$REDIS" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
        --dir "$RUN_DIR" --logfile "$RUN_DIR/logs/redis.log" --maxmemory 256mb --maxmemory-policy volatile-ttl &
    echo $! >"$RUN_DIR/redis.pid"
    for _ in $(seq 100); do
        "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1).close()" \
            "$REDIS_PORT" 2>/dev/null && break
        sleep 0.1
    done
    export UNROLLED_ROOMS_URL="redis://127.0.0.1:$REDIS_PORT/0"
fi

# ---- the replicas
start_replica() {
    # setsid: each replica leads its own process group, so stop_all reaches its children too
    setsid "$PY" -m streamlit run "$ROOT/app.py" --server.port "$1" --server.address 127.0.0.1 \
        --server.headless true --server.fileWatcherType none --browser.gatherUsageStats false \
        "${host_args[@]}" >>"$RUN_DIR/logs/replica-$1.log" 2>&1 &
    echo $! >"$RUN_DIR/replica-$1.pid"
}
upstreams=""
for i in $(seq 0 $((N - 1))); do
    port=$((BASE_PORT + i))
    : >"$RUN_DIR/logs/replica-$port.log"
    start_replica "$port"
    upstreams+="        server 127.0.0.1:$port max_fails=1 fail_timeout=5s;"$'\n'
done

# ---- this run's cookie values (the pool new browsers draw from; see the header)
POOL=2000
issued=""
chosen=""
i=0
while read -r token; do
    issued+="        $token 1;"$'\n'
    if [ "$i" -lt $((POOL - 1)) ]; then chosen+="        0.05% $token;"$'\n'
    else chosen+="        * $token;"$'\n'; fi
    i=$((i + 1))
done < <(head -c $((16 * POOL)) /dev/urandom | od -An -v -tx1 | tr -d ' \n' | fold -w 32; echo)
[ "$i" -eq "$POOL" ] || { echo "could not draw the cookie values from /dev/urandom" >&2; exit 1; }

# per-address limits (0: none)
limits_http=""
limit_conn=""
limit_req=""
limit_static=""
if [ "$CONN_PER_IP" -gt 0 ]; then
    limits_http+="    limit_conn_zone \$binary_remote_addr zone=unrolled_conn:10m;"$'\n'
    limit_conn="limit_conn unrolled_conn $CONN_PER_IP;"
fi
if [ "$REQ_PER_IP" -gt 0 ]; then
    limits_http+="    limit_req_zone \$binary_remote_addr zone=unrolled_req:10m rate=${REQ_PER_IP}r/s;"$'\n'
    limits_http+="    limit_req_zone \$binary_remote_addr zone=unrolled_static:10m rate=$((20 * REQ_PER_IP))r/s;"$'\n'
    limit_req="limit_req zone=unrolled_req burst=$((4 * REQ_PER_IP)) nodelay;"
    limit_static="limit_req zone=unrolled_static burst=$((80 * REQ_PER_IP)) nodelay;"
fi
# sent with every answer, errors and 429s included (`always`); the app frames no page of its own origin
headers="add_header X-Content-Type-Options nosniff always;
            add_header X-Frame-Options SAMEORIGIN always;
            add_header Referrer-Policy same-origin always;"

# ---- nginx, configured for this run (it holds the cookie values: readable by this user only)
rm -f "$RUN_DIR/nginx.conf"
saved_umask="$(umask)"
umask 077
cat >"$RUN_DIR/nginx.conf" <<EOF
# generated by scripts/serve.sh: $N replicas of the lab on ports $BASE_PORT-$((BASE_PORT + N - 1))
daemon off;
worker_processes 1;
pid $RUN_DIR/nginx.pid;
error_log $RUN_DIR/logs/nginx-error.log warn;

events {
    worker_connections 4096;
}

http {
    client_body_temp_path $RUN_DIR/tmp/client_body;
    proxy_temp_path       $RUN_DIR/tmp/proxy;
    fastcgi_temp_path     $RUN_DIR/tmp/fastcgi;
    uwsgi_temp_path       $RUN_DIR/tmp/uwsgi;
    scgi_temp_path        $RUN_DIR/tmp/scgi;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    server_tokens off;
    client_max_body_size 25m;   # the app's upload cap is 20 MB

    # The replica this request went to and the browser's cookie: tests/test_replicas.py reads this log
    log_format unrolled '\$remote_addr [\$time_local] "\$request" \$status \$body_bytes_sent '
                        'upstream=\$upstream_addr replica_cookie=\$cookie_unrolled_replica '
                        'replica_key=\$unrolled_key rt=\$request_time';
    access_log $RUN_DIR/logs/nginx-access.log unrolled;

    # Stickiness: the cookie nginx gave this browser, or for a first request (or a cookie this run did not
    # issue) a fresh value from the pool, which the response then sets as the cookie. The same value picks
    # the replica, so the first page and the websocket that follows land on the same one.
    map_hash_max_size 16384;
    map_hash_bucket_size 128;
    map \$cookie_unrolled_replica \$unrolled_issued {
        default 0;
$issued    }
    split_clients "\$request_id" \$unrolled_fresh {
$chosen    }
    map \$unrolled_issued \$unrolled_key {
        1       \$cookie_unrolled_replica;
        default \$unrolled_fresh;
    }
    map \$unrolled_issued \$unrolled_set_cookie {
        1       "";
        default "unrolled_replica=\$unrolled_fresh; Path=/; HttpOnly; SameSite=Lax";
    }

    # per client address; 429 (Too Many Requests) past them
$limits_http    limit_conn_status 429;
    limit_req_status 429;
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ""      "";
    }

    upstream unrolled {
        hash \$unrolled_key consistent;
$upstreams        keepalive 32;
    }

    server {
        listen $LISTEN;
        $limit_conn
        proxy_hide_header X-Content-Type-Options;   # Streamlit sends it on some answers: once is enough
        proxy_hide_header X-Frame-Options;
        proxy_hide_header Referrer-Policy;

        # public on Streamlit, but it lists the app's cache functions, their sizes and session counts
        location ^~ /_stcore/metrics {
            $headers
            return 404;
        }

        # the page's scripts, styles and fonts: the same for every page, many per first visit
        location ^~ /static/ {
            $limit_static
            $headers
            proxy_pass http://unrolled;
            proxy_http_version 1.1;
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout http_502 http_503;
            add_header Set-Cookie \$unrolled_set_cookie always;
        }

        location / {
            $limit_req
            $headers
            proxy_pass http://unrolled;
            proxy_http_version 1.1;
            proxy_set_header Host \$http_host;     # with the port: Streamlit compares it with the Origin
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            # a student may read one view for an hour: keep idle websockets open (Streamlit's client
            # also sends a heartbeat)
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_buffering off;          # stream the app's messages as they come
            proxy_next_upstream error timeout http_502 http_503;
            add_header Set-Cookie \$unrolled_set_cookie always;
        }
    }
}
EOF
umask "$saved_umask"

# ---- wait until every replica is healthy, then start the proxy
health() {
    "$PY" - "$1" <<'PYEOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_stcore/health", timeout=2) as r:
        sys.exit(0 if r.read().strip() == b"ok" else 1)
except Exception:
    sys.exit(1)
PYEOF
}
for i in $(seq 0 $((N - 1))); do
    port=$((BASE_PORT + i))
    deadline=$((SECONDS + 120))
    until health "$port"; do
        if [ ! -e "$RUN_DIR/stopping" ] && ! kill -0 "$(cat "$RUN_DIR/replica-$port.pid")" 2>/dev/null; then
            echo "replica on port $port exited; its log:" >&2
            tail -20 "$RUN_DIR/logs/replica-$port.log" >&2
            exit 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "replica on port $port not healthy after 120 s" >&2
            exit 1
        fi
        sleep 0.5
    done
done

if ! "$NGINX" -t -q -c "$RUN_DIR/nginx.conf" -p "$RUN_DIR" -e "$RUN_DIR/logs/nginx-error.log"; then
    echo "nginx refused the generated config $RUN_DIR/nginx.conf" >&2
    exit 1
fi
"$NGINX" -c "$RUN_DIR/nginx.conf" -p "$RUN_DIR" -e "$RUN_DIR/logs/nginx-error.log" &
nginx_pid=$!
echo "serving $N replica(s) (127.0.0.1:$BASE_PORT-$((BASE_PORT + N - 1))) on http://$LISTEN; Ctrl-C or '$0 stop' stops all"
echo "run directory: $RUN_DIR"
[ -n "${UNROLLED_ROOMS_URL:-}" ] && echo "classroom rooms in $UNROLLED_ROOMS_URL"
# Until nginx ends (or a signal): a replica that dies (a crash, kill -9) is started again. Its sessions are
# lost with it; the browsers reconnect (nginx sends them to another replica meanwhile) and their
# addresses restore their views.
while kill -0 "$nginx_pid" 2>/dev/null; do
    for i in $(seq 0 $((N - 1))); do
        port=$((BASE_PORT + i))
        if [ ! -e "$RUN_DIR/stopping" ] && ! kill -0 "$(cat "$RUN_DIR/replica-$port.pid")" 2>/dev/null; then
            echo "$(date -u +%H:%M:%S) replica on port $port ended; starting it again" >&2
            start_replica "$port"
        fi
    done
    sleep 1
done
echo "nginx ended; stopping" >&2
exit 1
