#!/usr/bin/env bash
# Starts a QuicQ server on loopback, seeds a few users and messages, runs the real quicq-ui
# under Xvfb signed in as alice, and saves a screenshot (default docs/screenshot.png).
# Needs Xvfb, ImageMagick's `import`, a CJK font and an emoji font the software renderer can draw
# (Symbola); installs them with apt-get if missing.
# SCREEN=800x480 sets the virtual screen's size (default 1000x680); QUICQ_LANG=zh, Chinese;
# CLICK="X,Y [X,Y…]" clicks there, in turn, before the screenshot (CLICK="60,165" opens the
# group # Rust at the default size, CLICK="60,165 112,79" then its members panel);
# QUICQ_ASK_ABOVE_MIB=0 offers every received file instead of downloading it.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-docs/screenshot.png}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/quicq-target}"

need=()
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
command -v import >/dev/null 2>&1 || need+=(imagemagick)
command -v xdotool >/dev/null 2>&1 || need+=(xdotool)
fc-list 2>/dev/null | grep -qi "noto sans cjk" || need+=(fonts-noto-cjk)
fc-list 2>/dev/null | grep -qi "symbola" || need+=(fonts-symbola)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi

cargo build -q -p quicq-server -p quicq-client -p quicq-ui
bin="$CARGO_TARGET_DIR/debug"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port=7390
NO_COLOR=1 "$bin/quicq-server" --listen "127.0.0.1:$port" --hostname 127.0.0.1 \
  --data-dir "$work/data" --cert-dir "$work/certs" > "$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q "join link" "$work/server.log" && break; sleep 0.1; done
link="$(grep -o 'quicq://[^ ]*' "$work/server.log" | head -1)"

# Every process gets its own home, so nothing touches the real user's settings.
as() { local who="$1"; shift; HOME="$work/home-$who" QUICQ_PASSWORD="password-$who" "$bin/quicq" --server "$link" --nick "$who" "$@"; }
as alice users > /dev/null                       # register alice before the others talk
HOME="$work/home-bob" QUICQ_PASSWORD=password-bob "$bin/quicq" --server "$link" --nick bob listen > /dev/null 2>&1 &
pids+=($!)
as 小明 users > /dev/null
as carol users > /dev/null
sleep 0.5
as bob send --all "Morning! Is the server up again? 👍" > /dev/null
as 小明 send --all "收到，谢谢！文件传输也正常。" > /dev/null
as carol send --all "Great. Sharing yesterday's slides in a minute." > /dev/null
head -c 3000000 /dev/urandom > "$work/slides-2026-11.pdf"
as carol send-file --all "$work/slides-2026-11.pdf" > /dev/null
convert -size 480x320 gradient:skyblue-navy "$work/harbour.png"
as 小明 send-file --all "$work/harbour.png" > /dev/null
as bob send --to alice "lunch at 12?" > /dev/null
# A named group with a reply, an edited and a recalled message (unread for alice).
as carol group create Rust alice bob 小明 > /dev/null
id() { awk '/^sent message/ { print $3 }'; }
q="$(as bob send --group Rust "Does the new release build on ARM?" | id)"
as 小明 reply "$q" --group Rust "可以，我昨天在树莓派上试过。" > /dev/null
e="$(as carol send --group Rust "Release meeting at 3pm" | id)"
as carol edit "$e" "Release meeting at 4pm, room 2" > /dev/null
r="$(as bob send --group Rust "oops, wrong chat" | id)"
as bob recall "$r" > /dev/null
as bob send --group Rust "Thanks! I will tag it tonight." > /dev/null

Xvfb :99 -screen 0 "${SCREEN:-1000x680}x24" > /dev/null 2>&1 &
pids+=($!)
sleep 1
HOME="$work/home-alice" DISPLAY=:99 \
  QUICQ_SERVER="$link" QUICQ_NICK=alice QUICQ_PASSWORD=password-alice \
  QUICQ_DOWNLOAD_DIR="$work/downloads" QUICQ_LANG="${QUICQ_LANG:-en}" "$bin/quicq-ui" > "$work/ui.log" 2>&1 &
pids+=($!)
sleep 6
for at in ${CLICK:-}; do
  DISPLAY=:99 xdotool mousemove "${at%,*}" "${at#*,}" click 1
  sleep 2
done
mkdir -p "$(dirname "$out")"
DISPLAY=:99 import -window root "$out"
echo "saved $out"
