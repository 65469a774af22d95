#!/usr/bin/env bash
# Measures the real quicq-ui (release build) under Xvfb against a server on loopback: CPU and
# resident memory idle, while 50 messages a second arrive in the open conversation, and after
# 2,000 of them are loaded; the stripped binary's size. One line of figures per renderer.
#
#   bash ui/scripts/measure.sh [RENDERER...]     (default: software femtovg)
#
# CORES=0 pins the window to one core with taskset (the embedded case; default 0, empty for
# none), SCREEN=800x480 sets the virtual screen (default 800x480), RATE and SECONDS the load.
# The conversation is open and the message field has the focus (its cursor blinking), as for
# someone reading along. SHOTS=DIR saves a screenshot of each renderer's window after the load.
# Needs Xvfb, xdotool, ImageMagick and a CJK font; installs them with apt-get if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/quicq-target}"
renderers=("$@")
[ ${#renderers[@]} -gt 0 ] || renderers=(software femtovg)
cores="${CORES-0}"
rate="${RATE:-50}"
seconds="${SECONDS_LOADED:-40}"

need=()
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
command -v xdotool >/dev/null 2>&1 || need+=(xdotool)
command -v import >/dev/null 2>&1 || need+=(imagemagick)
/usr/bin/python3 -c "import Xlib.ext.damage" 2>/dev/null || need+=(python3-xlib)
fc-list 2>/dev/null | grep -qi "noto sans cjk" || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi

cargo build -q --release -p quicq-server -p quicq-client -p quicq-ui
bin="$CARGO_TARGET_DIR/release"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

strip -o "$work/quicq-ui.stripped" "$bin/quicq-ui"
echo "quicq-ui stripped: $(stat -c %s "$work/quicq-ui.stripped") bytes"

port=7391
NO_COLOR=1 "$bin/quicq-server" --listen "127.0.0.1:$port" --hostname 127.0.0.1 \
  --data-dir "$work/data" --cert-dir "$work/certs" \
  --messages-per-second 1000 --message-burst 1000 > "$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q "join link" "$work/server.log" && break; sleep 0.1; done
link="$(grep -o 'quicq://[^ ]*' "$work/server.log" | head -1)"
as() { local who="$1"; shift; HOME="$work/home-$who" QUICQ_PASSWORD="password-$who" "$bin/quicq" --server "$link" --nick "$who" "$@"; }
as alice users > /dev/null
as bob users > /dev/null

Xvfb :98 -screen 0 "${SCREEN:-800x480}x24" > /dev/null 2>&1 &
pids+=($!)
sleep 1

# CPU seconds (user + system) the process has used so far.
cpu() { awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$1/stat"; }
rss_mib() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
# CPU percent of one core over the next N seconds.
busy() {
  local pid="$1" n="$2" a b
  a="$(cpu "$pid")"; sleep "$n"; b="$(cpu "$pid")"
  awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN { printf "%.1f", (b - a) * 100 / n }'
}

for renderer in "${renderers[@]}"; do
  pin=()
  [ -n "$cores" ] && pin=(taskset -c "$cores")
  HOME="$work/home-alice" DISPLAY=:98 SLINT_BACKEND="winit-$renderer" \
    QUICQ_SERVER="$link" QUICQ_NICK=alice QUICQ_PASSWORD=password-alice \
    QUICQ_DOWNLOAD_DIR="$work/downloads" QUICQ_LANG=en \
    "${pin[@]}" "$bin/quicq-ui" > "$work/ui-$renderer.log" 2>&1 &
  ui=$!
  pids+=($ui)
  sleep 8 # signed in and settled
  # Open everyone's conversation (on a small screen the list covers it) and click into the
  # message field, just above the status bar.
  screen="${SCREEN:-800x480}"
  height="${screen#*x}"
  DISPLAY=:98 xdotool mousemove 60 17 click 1
  sleep 1
  DISPLAY=:98 xdotool mousemove 300 $((height - 70)) click 1
  # Without a window manager nothing gives the window the keyboard focus.
  DISPLAY=:98 xdotool windowfocus --sync "$(DISPLAY=:98 xdotool search --name '^QuicQ$' | head -1)"
  sleep 2
  idle="$(busy $ui 20)"
  idle_rss="$(rss_mib $ui)"
  # Key to pixels in the message field's band of the screen (above the status bar).
  band=($((height - 110)) $((height - 30)))
  latency_idle="$(/usr/bin/python3 ui/scripts/input_latency.py :98 30 "${band[@]}")"
  # bob types RATE lines a second into everyone, for SECONDS_LOADED seconds.
  python3 - "$rate" "$seconds" > "$work/lines" <<'EOF'
import sys
rate, seconds = int(sys.argv[1]), int(sys.argv[2])
for i in range(rate * seconds):
    print(f"load line {i}: the quick brown fox jumps over the lazy dog 敏捷的狐狸")
EOF
  python3 - "$rate" "$work/lines" <<'EOF' | as bob chat > /dev/null 2>&1 &
import sys, time
rate, path = int(sys.argv[1]), sys.argv[2]
start = time.monotonic()
for i, line in enumerate(open(path)):
    time.sleep(max(0, start + i / rate - time.monotonic()))
    sys.stdout.write(line); sys.stdout.flush()
time.sleep(2)
EOF
  feeder=$!
  sleep 2
  loaded="$(busy $ui $((seconds / 2 - 2)))"
  latency_loaded="$(/usr/bin/python3 ui/scripts/input_latency.py :98 20 "${band[@]}")"
  wait $feeder || true
  sleep 3
  full_rss="$(rss_mib $ui)"
  if [ -n "${SHOTS:-}" ]; then
    mkdir -p "$SHOTS"
    DISPLAY=:98 import -window root "$SHOTS/measure-$renderer.png"
  fi
  after="$(busy $ui 10)"
  echo "$renderer: idle ${idle} % CPU, ${idle_rss} MiB, key to screen ${latency_idle} ms" \
    "(p50 p90 max); at ${rate} msg/s ${loaded} % CPU, key to screen ${latency_loaded} ms;" \
    "with $((rate * seconds)) messages loaded ${full_rss} MiB, then idle ${after} % CPU" \
    "(taskset ${cores:-none}, screen ${SCREEN:-800x480})"
  kill $ui 2>/dev/null || true
  wait $ui 2>/dev/null || true
done
