#!/usr/bin/env bash
# make pgo: rewrites cmd/linger/default.pgo, the CPU profile `go build`
# uses to optimise the linger binary (profile-guided optimisation: it
# inlines and lays out the calls the profile shows hot).
#
# The profile is the processor's own, `linger run` as `linger bench` starts
# it on the embedded broker, at the two rates the README's Performance
# table quotes: as fast as it goes (--rate 0), where the partition engine
# is most of the samples, and 20k events/s, a production rate, where the
# Kafka client and the transactions weigh more. Each is sampled for
# $SECONDS_EACH seconds after $WARMUP seconds of warm-up; the two are merged.
#
# Rerun it after a change to the hot path moves it around; a stale profile
# still helps where the code it names is unchanged. Takes about three
# minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-cmd/linger/default.pgo}
WARMUP=${WARMUP:-20}
SECONDS_EACH=${SECONDS_EACH:-40}
tmp=$(mktemp -d)
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# Built without the current profile, so the new one does not depend on it.
go build -pgo=off -o "$tmp/linger" ./cmd/linger

# profile RATE FILE: a bench at RATE, and the processor's CPU profile to FILE.
profile() {
	local rate=$1 file=$2 url="" i
	LINGER_PPROF=true "$tmp/linger" bench --rate "$rate" \
		--duration "$((WARMUP + SECONDS_EACH + 15))s" >"$tmp/bench.out" 2>"$tmp/bench.err" &
	pid=$!
	# The bench names the processor's metrics address once it is ready.
	for i in $(seq 1 120); do
		url=$(grep -o 'metrics at http://[0-9.:]*' "$tmp/bench.err" | head -1 | sed 's/^metrics at //') || true
		if [ -n "$url" ]; then break; fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "linger bench --rate $rate exited before its processor was ready:" >&2
			cat "$tmp/bench.err" >&2
			exit 1
		fi
		sleep 1
	done
	if [ -z "$url" ]; then
		echo "linger bench --rate $rate: no processor after 120 s" >&2
		exit 1
	fi
	echo "rate $rate: processor at $url, warming up ${WARMUP}s, then ${SECONDS_EACH}s of profile"
	sleep "$WARMUP"
	go tool pprof -proto -seconds "$SECONDS_EACH" -output "$file" "$url/debug/pprof/profile" 2>"$tmp/pprof.err" ||
		{ cat "$tmp/pprof.err" >&2; exit 1; }
	# Its verdicts do not matter here (a budget missed on a busy machine
	# still leaves a fair profile of where the time goes).
	wait "$pid" || true
	pid=""
}

profile 0 "$tmp/rate0.pb.gz"
profile 20000 "$tmp/rate20k.pb.gz"
go tool pprof -proto "$tmp/rate0.pb.gz" "$tmp/rate20k.pb.gz" >"$tmp/merged.pgo" 2>/dev/null
mv "$tmp/merged.pgo" "$out"
echo "wrote $out ($(wc -c <"$out") bytes); rebuild to use it"
