#!/usr/bin/env bash
# The Lambda binaries end to end: `cargo lambda watch` emulates the Lambda runtime API, the
# `replicator` and `loader` binaries poll it as they do on Lambda, against local dynalite servers
# (and moto's S3 for the loader), `cargo lambda invoke` sends them events, and the replica is
# checked.
# The binaries are the ones `cargo test --tests` builds (the integration tests run the same
# `dyno`): the same code as a plain `cargo build`, with the features the dev-dependencies add to
# shared crates (tokio's test-util, the SDK's test-util for aws-smithy-mocks). A plain build would
# compile every SDK crate a second time for those features alone; after `cargo test` this is free.
# Every command's status is checked: a failing step fails the script, naming the step.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # port what
  for _ in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "lambda-e2e: $2 did not listen on port $1" >&2; return 1
}
fail() { echo "lambda-e2e: FAILED: $*" >&2; tail -n 20 "$work/watch.log" >&2 2>/dev/null || true; exit 1; }

primary_port=$(free_port); replica_port=$(free_port); kinesis_port=$(free_port); invoke_port=$(free_port)
s3_port=$(free_port)
dynalite=(node tools/node_modules/dynalite/cli.js --host 127.0.0.1 --createTableMs 0 --deleteTableMs 0 --updateTableMs 0)
"${dynalite[@]}" --port "$primary_port" >"$work/primary.log" 2>&1 & pids+=($!)
"${dynalite[@]}" --port "$replica_port" >"$work/replica.log" 2>&1 & pids+=($!)
node tools/kinesalite.js "$kinesis_port" >"$work/kinesis.log" 2>&1 & pids+=($!)
.venv/bin/moto_server -H 127.0.0.1 -p "$s3_port" >"$work/moto.log" 2>&1 & pids+=($!)
wait_port "$primary_port" dynalite; wait_port "$replica_port" dynalite; wait_port "$kinesis_port" kinesalite
wait_port "$s3_port" moto

export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1
primary_url=http://127.0.0.1:$primary_port replica_url=http://127.0.0.1:$replica_port
dyno() {
  "$dyno_bin" --endpoint-url "$primary_url" --kinesis-endpoint-url "http://127.0.0.1:$kinesis_port" "$@"
}
built=$(cargo test --tests --no-run --quiet --message-format=json-render-diagnostics) || fail "building the binaries"
binary() { # the executable of bin target $1 in the build's messages
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if (m.get("reason") == "compiler-artifact" and m["target"]["kind"] == ["bin"]
            and m["target"]["name"] == sys.argv[1] and not m["profile"]["test"]):
        print(m["executable"]); break' "$1" <<<"$built"
}
dyno_bin=$(binary dyno); replicator_bin=$(binary replicator); loader_bin=$(binary loader)
[ -x "$dyno_bin" ] && [ -x "$replicator_bin" ] && [ -x "$loader_bin" ] || fail "the build named no dyno, replicator and loader executables"
dyno create --replica-endpoint-url "$replica_url" || fail "dyno create"
dyno put --item '{"ForumName":{"S":"DynamoDB"},"Subject":{"S":"DynamoDB Thread 3"},"Views":{"N":"42"},"Tags":{"SS":["a","b"]}}' \
  || fail "dyno put"

cargo lambda watch --only-lambda-apis --invoke-address 127.0.0.1 --invoke-port "$invoke_port" \
  >"$work/watch.log" 2>&1 & pids+=($!)
wait_port "$invoke_port" "cargo lambda watch" || { cat "$work/watch.log" >&2; exit 1; }
# What Lambda (and `cargo lambda watch` when it starts a function itself) sets for a function.
start_function() { # name executable
  env PRIMARY_TABLE=dyno-primary REPLICA_TABLE=dyno-replica \
    PRIMARY_ENDPOINT_URL="$primary_url" REPLICA_ENDPOINT_URL="$replica_url" \
    S3_ENDPOINT_URL="http://127.0.0.1:$s3_port" RUST_LOG="${RUST_LOG:-info}" AWS_LAMBDA_LOG_FORMAT=JSON \
    AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$invoke_port/.rt/$1" AWS_LAMBDA_FUNCTION_NAME="$1" \
    AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 \
    "$2" >>"$work/watch.log" 2>&1 & pids+=($!)
}
start_function replicator "$replicator_bin"
start_function loader "$loader_bin"

invoke() { cargo lambda invoke replicator --invoke-address 127.0.0.1 --invoke-port "$invoke_port" --data-file "events/$1" 2>>"$work/invoke.log"; }
replica_get() {
  "$dyno_bin" --endpoint-url "$replica_url" --table dyno-replica get \
    --key '{"ForumName":{"S":"DynamoDB"},"Subject":{"S":"DynamoDB Thread 3"}}'
}

key='{"ForumName":{"S":"DynamoDB"},"Subject":{"S":"DynamoDB Thread 3"}}'
out=$(invoke seed.json) || { cat "$work/invoke.log" >&2; fail "invoke seed.json"; }
echo "seed.json      -> $out"
[ "$out" = '{"batchItemFailures":[]}' ] || fail "seed.json: expected no failures, got $out"
on_replica=$(replica_get) || fail "reading the replica"
on_primary=$(dyno get --key "$key") || fail "reading the primary"
[ -n "$on_primary" ] || fail "the primary has no item"
[ "$on_replica" = "$on_primary" ] || fail "the replica's item differs from the primary's"

out=$(invoke unusable.json) || { cat "$work/invoke.log" >&2; fail "invoke unusable.json"; }
echo "unusable.json  -> $out"
failures=$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])["batchItemFailures"]))' "$out") \
  || fail "unusable.json: the answer is not a batchItemFailures response: $out"
[ "$failures" = 6 ] || fail "unusable.json: expected 6 failures, got $out"

dyno delete --key "$key" || fail "deleting on the primary"
out=$(invoke remove.json) || { cat "$work/invoke.log" >&2; fail "invoke remove.json"; }
echo "remove.json    -> $out"
[ "$out" = '{"batchItemFailures":[]}' ] || fail "remove.json: expected no failures, got $out"
on_replica=$(replica_get) || fail "reading the replica"
[ -z "$on_replica" ] || fail "the replica still has the deleted item"

# The same binary takes the primary table's own DynamoDB stream: the event's shape decides.
dyno put --item '{"ForumName":{"S":"DynamoDB"},"Subject":{"S":"DynamoDB Thread 3"},"Views":{"N":"43"}}' || fail "dyno put"
out=$(invoke dynamodb-new-and-old-images.json) || { cat "$work/invoke.log" >&2; fail "invoke dynamodb-new-and-old-images.json"; }
echo "dynamodb-new-and-old-images.json -> $out"
[ "$out" = '{"batchItemFailures":[]}' ] || fail "dynamodb-new-and-old-images.json: expected no failures, got $out"
on_replica=$(replica_get) || fail "reading the replica"
on_primary=$(dyno get --key "$key") || fail "reading the primary"
[ "$on_replica" = "$on_primary" ] || fail "after the DynamoDB stream event, the replica differs from the primary"

grep -q '"message":"batch replicated"' "$work/watch.log" || fail "no JSON summary log line from the function"
grep -q '"CloudWatchMetrics":\[{"Namespace":"dyno"' "$work/watch.log" || fail "no EMF metrics line from the function"
# The loader: one data file of an export (as the seed state machine's Distributed Map hands it).
.venv/bin/python - "$s3_port" "$work" <<'PY' || fail "uploading the export file"
import base64, boto3, gzip, hashlib, json, sys
port, work = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                  aws_access_key_id="local", aws_secret_access_key="local")
s3.create_bucket(Bucket="exports")
lines = "".join(json.dumps({"Item": {"ForumName": {"S": "Loader"}, "Subject": {"S": f"s{i}"}}}) + "\n"
                for i in range(20))
data = gzip.compress(lines.encode())
key = "AWSDynamoDB/0001-e2e/data/file.json.gz"
s3.put_object(Bucket="exports", Key=key, Body=data)
md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
for name, checksum in (("good", md5), ("bad", "AAAAAAAAAAAAAAAAAAAAAA==")):
    event = {"bucket": "exports", "file": {"itemCount": 20, "md5Checksum": checksum, "dataFileS3Key": key}}
    open(f"{work}/{name}-file.json", "w").write(json.dumps(event))
PY
out=$(cargo lambda invoke loader --invoke-address 127.0.0.1 --invoke-port "$invoke_port" --data-file "$work/good-file.json" 2>>"$work/invoke.log") \
  || { cat "$work/invoke.log" >&2; fail "invoke loader"; }
echo "loader         -> $out"
[ "$out" = '{"key":"AWSDynamoDB/0001-e2e/data/file.json.gz","items":20,"expired":0}' ] || fail "loader: expected 20 items, got $out"
loaded=$("$dyno_bin" --endpoint-url "$replica_url" --table dyno-replica export - | grep -c '"Loader"') || fail "reading the replica"
[ "$loaded" = 20 ] || fail "loader: the replica holds $loaded of the 20 items"
if bad=$(cargo lambda invoke loader --invoke-address 127.0.0.1 --invoke-port "$invoke_port" --data-file "$work/bad-file.json" 2>&1); then
  fail "loader: a file whose MD5 does not match loaded: $bad"
fi
echo "$bad" | grep -q "its MD5 is" || fail "loader: the failure does not name the MD5: $bad"
echo "loader (bad MD5) -> refused"

echo "lambda-e2e: 4 invocations of the replicator binary passed (3 Kinesis events, 1 DynamoDB stream event); 2 of the loader (a file loaded, a damaged one refused)"
