#!/bin/sh
# One-shot job (service `temporal-setup`, image temporalio/admin-tools): creates the Temporal
# namespace doudi and its custom search attributes. Idempotent: it runs on every
# `docker compose up` and only creates what is missing.
set -eu

ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${DOUDI_TEMPORAL_NAMESPACE:-doudi}"
RETENTION="${DOUDI_TEMPORAL_RETENTION:-720h}"

t() { temporal --address "$ADDRESS" "$@"; }

retry() {
  # retry <what> <command...>: up to 60 tries, 2 s apart.
  what=$1; shift
  n=0
  until "$@" > /dev/null 2>&1; do
    n=$((n + 1))
    if [ "$n" -ge 60 ]; then
      echo "temporal-setup: gave up waiting for $what" >&2
      "$@" || true
      exit 1
    fi
    echo "temporal-setup: waiting for $what ($n)"
    sleep 2
  done
}

serving() { t operator cluster health | grep -q SERVING; }
retry "the Temporal frontend at $ADDRESS" serving

if t operator namespace describe --namespace "$NAMESPACE" > /dev/null 2>&1; then
  echo "temporal-setup: namespace $NAMESPACE exists"
else
  echo "temporal-setup: creating namespace $NAMESPACE (retention $RETENTION)"
  t operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" \
    --description "doudi relief cases" \
    || t operator namespace describe --namespace "$NAMESPACE" > /dev/null
fi

# A new namespace reaches every frontend's cache after a few seconds.
retry "namespace $NAMESPACE to be usable" t operator search-attribute list --namespace "$NAMESPACE"

ensure_search_attribute() {
  name=$1
  type=$2
  if t operator search-attribute list --namespace "$NAMESPACE" | grep -qw "$name"; then
    echo "temporal-setup: search attribute $name exists"
  else
    echo "temporal-setup: creating search attribute $name ($type)"
    t operator search-attribute create --namespace "$NAMESPACE" --name "$name" --type "$type" \
      || t operator search-attribute list --namespace "$NAMESPACE" | grep -qw "$name"
  fi
}

ensure_search_attribute DoudiPathway Keyword
ensure_search_attribute DoudiRegion Keyword
ensure_search_attribute DoudiStalled Bool

echo "temporal-setup: done"
