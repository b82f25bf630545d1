#!/usr/bin/env bash
# Makes sure the services the tests need are running. A service that is installed but stopped is
# started (a running one is left alone); a missing one fails with how to get it. Nothing is skipped.
set -uo pipefail

REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
DATABASE_URL=${DATABASE_URL:-postgres://127.0.0.1:5432/test}
AMQP_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672}

hostport() { # url default-port -> "host port"
  local rest=${1#*://}; rest=${rest#*@}; rest=${rest%%/*}; rest=${rest%%\?*}
  local host=${rest%%:*} port=${rest##*:}
  [ "$port" = "$rest" ] && port=$2
  echo "$host $port"
}
is_up() { # host port (a host that drops packets would hold a bare connect for minutes)
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}
wait_up() { # name host port seconds
  local i
  for ((i = 0; i < $4 * 5; i++)); do is_up "$2" "$3" && return 0; sleep 0.2; done
  echo "ensure-services: $1 did not come up on $2:$3 within $4s" >&2
  return 1
}
local_host() { [ "$1" = 127.0.0.1 ] || [ "$1" = localhost ] || [ "$1" = "::1" ]; }
not_up() { # name host port url-var program install-hint
  if local_host "$2"; then
    echo "ensure-services: $1 is not reachable at $2:$3 and $5 is not installed here." >&2
    echo "  Install it ($6) or set $4 to a running $1." >&2
  else
    # Another machine: nothing to start here, whatever is installed.
    echo "ensure-services: $1 is not reachable at $2:$3 (from $4). Start it there, or point $4 at a running $1." >&2
  fi
}

failed=0

read -r h p < <(hostport "$REDIS_URL" 6379)
if ! is_up "$h" "$p"; then
  if local_host "$h" && command -v redis-server >/dev/null; then
    echo "ensure-services: starting Redis on $p"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$p" --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_up Redis "$h" "$p" 20 || failed=1
  else
    not_up Redis "$h" "$p" REDIS_URL redis-server "Debian: apt-get install redis-server"
    failed=1
  fi
fi

read -r h p < <(hostport "$DATABASE_URL" 5432)
if ! is_up "$h" "$p"; then
  if local_host "$h" && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "ensure-services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    wait_up PostgreSQL "$h" "$p" 60 || failed=1
  else
    not_up PostgreSQL "$h" "$p" DATABASE_URL "a PostgreSQL cluster" "Debian: apt-get install postgresql"
    failed=1
  fi
fi

read -r h p < <(hostport "$AMQP_URL" 5672)
if ! is_up "$h" "$p"; then
  if local_host "$h" && command -v rabbitmq-server >/dev/null; then
    echo "ensure-services: starting RabbitMQ"
    rabbitmq-server -detached || true
    wait_up RabbitMQ "$h" "$p" 120 || failed=1
  else
    not_up RabbitMQ "$h" "$p" AMQP_URL rabbitmq-server "Debian: apt-get install rabbitmq-server"
    failed=1
  fi
fi

exit $failed
