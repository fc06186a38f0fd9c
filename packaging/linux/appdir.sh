#!/usr/bin/env bash
# Lay out an AppDir (the tree appimagetool packs into an AppImage) from a one-folder bundle:
#   packaging/linux/appdir.sh dist/cratedigger dist/Cratedigger.AppDir
# Files are hard-linked from the bundle where the file system allows (no second copy on disk).
set -euo pipefail
bundle=$1
appdir=$2
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
id=org.cratedigger.Cratedigger
res="$repo/app/resources"

rm -rf "$appdir"
mkdir -p "$appdir/usr/lib" "$appdir/usr/share/applications" "$appdir/usr/share/metainfo" \
    "$appdir/usr/share/icons/hicolor/scalable/apps"
cp -al "$bundle" "$appdir/usr/lib/cratedigger" 2>/dev/null || cp -a "$bundle" "$appdir/usr/lib/cratedigger"
install -m 755 "$here/AppRun" "$appdir/AppRun"
cp "$res/$id.desktop" "$appdir/$id.desktop"
cp "$res/$id.svg" "$appdir/$id.svg"
cp "$res/$id.desktop" "$appdir/usr/share/applications/"
cp "$res/$id.svg" "$appdir/usr/share/icons/hicolor/scalable/apps/"
cp "$res/$id.metainfo.xml" "$appdir/usr/share/metainfo/"
if [ -x "${PY:-$repo/.venv/bin/python}" ]; then
    "${PY:-$repo/.venv/bin/python}" "$repo/packaging/make_icons.py" "$appdir/.icons" >/dev/null \
        && mv "$appdir/.icons/cratedigger.png" "$appdir/.DirIcon" && rm -rf "$appdir/.icons"
fi
echo "AppDir: $appdir"
