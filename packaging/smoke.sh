#!/usr/bin/env bash
# Smoke-test a built bundle the way a new user meets it: a clean temporary HOME, an empty
# environment, a working directory outside the checkout.
#
#   packaging/smoke.sh BUNDLE [MODEL]
#
# BUNDLE: the one-folder bundle (dist/cratedigger), its tarball (dist/cratedigger-*.tar.gz),
# an AppDir, an AppImage, or the executable itself. MODEL: a model file for `model import`
# (default: $CRATEDIGGER_SMOKE_MODEL, else ../shared/bbnn/authors-weights/gtzan_fold5.hdf5).
# Steps: --version, model import, predict --json on a generated clip, scan of a folder of eight
# clips (worker processes), the map's clusters (UMAP, numba) and similar, gui --screenshot
# offscreen (timed: the cold start to the window), install-desktop, and a user error that must
# end in one line, not a traceback. Exits non-zero on any failure.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
bundle=${1:?usage: packaging/smoke.sh BUNDLE [MODEL]}
model=${2:-${CRATEDIGGER_SMOKE_MODEL:-$repo/../shared/bbnn/authors-weights/gtzan_fold5.hdf5}}
[ -e "$bundle" ] || { echo "smoke: no such bundle: $bundle" >&2; exit 2; }
[ -f "$model" ] || { echo "smoke: no model file at $model (pass one as the second argument)" >&2; exit 2; }
bundle=$(cd "$(dirname "$bundle")" && pwd)/$(basename "$bundle")
model=$(cd "$(dirname "$model")" && pwd)/$(basename "$model")

work=$(mktemp -d "${TMPDIR:-/tmp}/cratedigger-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/music"

case "$bundle" in
    *.tar.gz)
        tar -C "$work" -xzf "$bundle" || { echo "smoke: cannot unpack $bundle" >&2; exit 1; }
        exe="$work/cratedigger/cratedigger" ;;
    *)
        if [ -d "$bundle" ] && [ -x "$bundle/AppRun" ]; then exe="$bundle/AppRun"
        elif [ -d "$bundle" ]; then exe="$bundle/cratedigger"
        else exe="$bundle"; fi ;;
esac
[ -x "$exe" ] || { echo "smoke: no executable at $exe" >&2; exit 1; }

# Eight 31 s clips (chords over a beat, each its own key and tempo), mono 16-bit 22,050 Hz WAV:
# enough tracks for the map (UMAP). System python, stdlib only.
python3 - "$work/music" <<'PY' || { echo "smoke: cannot write the test clips (needs python3)" >&2; exit 1; }
import math, random, struct, sys, wave
rate, seconds = 22050, 31
for n in range(8):
    rng = random.Random(n)
    root, period = 110.0 * 2 ** (n / 5), 0.3 + 0.08 * n
    frames = bytearray()
    for i in range(rate * seconds):
        t = i / rate
        beat = math.exp(-14 * (t % period)) * rng.uniform(-1, 1)
        chord = sum(math.sin(2 * math.pi * root * r * t) for r in (1, 1.26, 1.5)) / 3
        frames += struct.pack("<h", int(12000 * ((0.8 - 0.08 * n) * chord + (0.2 + 0.08 * n) * beat)))
    with wave.open(f"{sys.argv[1]}/clip{n}.wav", "wb") as out:
        out.setnchannels(1); out.setsampwidth(2); out.setframerate(rate); out.writeframes(bytes(frames))
PY

failed=0
# run NAME CMD...: the bundle in an empty environment with the temporary HOME, from $work.
run() {
    local name=$1; shift
    if (cd "$work" && env -i HOME="$work/home" PATH=/usr/bin:/bin LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen \
            ${XDG_RUNTIME_DIR:+XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR} ${APPIMAGE_EXTRACT_AND_RUN:+APPIMAGE_EXTRACT_AND_RUN=1} \
            "$exe" "$@") >"$work/$name.out" 2>"$work/$name.err"; then
        return 0
    fi
    return 1
}
ok() { echo "ok    $1"; }
bad() { echo "FAIL  $1"; sed 's/^/      /' "$work/$2.err" | tail -20; failed=1; }

if run version --version && grep -qE '^cratedigger [0-9]' "$work/version.out"; then ok "--version: $(cat "$work/version.out")"
else bad "--version" version; fi

if run import model import "$model" && run list model list && grep -q '\*' "$work/list.out"; then
    ok "model import: $(grep '\*' "$work/list.out" | head -1 | tr -s ' ')"
else bad "model import $model" import; fi

if run predict predict --json "$work/music/clip0.wav" && python3 - "$work/predict.out" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
genres = result[0]["genres"]
assert len(result) == 1 and abs(sum(genres.values()) - 1) < 1e-3 and result[0]["windows"], result
print(f"      top genre {max(genres, key=genres.get)} ({max(genres.values()):.2f}), model {result[0]['model']}")
PY
then ok "predict --json"; else bad "predict --json" predict; fi

if run scan scan "$work/music" && run status status --json && python3 - "$work/status.out" <<'PY'
import json, sys
status = json.load(open(sys.argv[1]))
assert status["tracks"] == 8 and status["analysed"].get(status["active_model"]) == 8 and not status["errors"], status
PY
then ok "scan of 8 clips (worker processes) + status"; else bad "scan" scan; fi

if run clusters clusters --json && run similar similar --json -n 3 "$work/music/clip0.wav" && python3 - "$work" <<'PY'
import json, sys
clusters = json.load(open(f"{sys.argv[1]}/clusters.out"))
similar = json.load(open(f"{sys.argv[1]}/similar.out"))
assert sum(c["size"] for c in clusters) == 8, clusters
assert len(similar) == 3 and all("clip" in s["path"] and not s["path"].endswith("clip0.wav") for s in similar), similar
print(f"      {len(clusters)} clusters; more like clip0: {', '.join(s['path'].rsplit('/', 1)[1] for s in similar)}")
PY
then ok "map (UMAP, numba) + clusters, more like this"; else bad "clusters / similar" clusters; cat "$work/similar.err" >&2; fi

start=$(date +%s.%N)
if run gui gui --screenshot "$work/shot.png" && [ "$(head -c 8 "$work/shot.png" | od -An -tx1 | tr -d ' ')" = "89504e470d0a1a0a" ] \
        && [ "$(stat -c %s "$work/shot.png")" -gt 10000 ]; then
    seconds=$(python3 -c "print(f\"{$(date +%s.%N) - $start:.1f}\")")
    ok "gui --screenshot offscreen: ${seconds} s to the saved window picture (includes the 1.5 s render wait)"
    [ -n "${SMOKE_KEEP_SCREENSHOT:-}" ] && cp "$work/shot.png" "$SMOKE_KEEP_SCREENSHOT"
else bad "gui --screenshot" gui; fi

id=org.cratedigger.Cratedigger
data="$work/home/.local/share"
if run desktop install-desktop && [ -s "$data/applications/$id.desktop" ] \
        && [ -s "$data/icons/hicolor/scalable/apps/$id.svg" ] && [ -s "$data/metainfo/$id.metainfo.xml" ]; then
    if command -v desktop-file-validate >/dev/null && ! desktop-file-validate "$data/applications/$id.desktop"; then
        bad "install-desktop: the entry does not validate" desktop
    else ok "install-desktop: $(grep '^Exec=' "$data/applications/$id.desktop")"; fi
else bad "install-desktop" desktop; fi

if ! run missing predict "$work/no-such-file.mp3" && ! grep -q Traceback "$work/missing.err" \
        && [ "$(wc -l <"$work/missing.err")" -le 2 ]; then
    ok "a missing file: $(head -1 "$work/missing.err")"
else bad "a user error ended in a traceback or success" missing; fi

if [ "$failed" -ne 0 ]; then echo "smoke: FAILED ($exe)"; exit 1; fi
echo "smoke: all passed ($exe)"
