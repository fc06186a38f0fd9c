#!/usr/bin/env bash
# Build the Linux desktop bundle (run by `make package`):
#   dist/cratedigger/                               the one-folder PyInstaller bundle (CPU torch)
#   dist/cratedigger-VERSION-linux-ARCH.tar.gz      the same, as a tarball with install.sh
#   dist/Cratedigger.AppDir/                         the AppImage's tree (always; cheap hard links)
#   dist/Cratedigger-VERSION-ARCH.AppImage           only where appimagetool is on PATH
# The venv must have Cratedigger installed with the `package` extra and a CPU torch.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
VERSION=$("$PY" -c "import app; print(app.__version__)")
ARCH=$(uname -m)
BUNDLE=dist/cratedigger

"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
    packaging/linux/cratedigger.spec
# torch's two big libraries carry full symbol tables (~75 MB); strip only those. PyInstaller's
# strip=True strips everything, and that breaks the auditwheel-patched libraries (numpy's
# OpenBLAS: "ELF load command address/offset not page-aligned").
strip --strip-unneeded "$BUNDLE/_internal/torch/lib/libtorch_cpu.so" "$BUNDLE/_internal/torch/lib/libtorch_python.so"
cp packaging/linux/install.sh LICENSE "$BUNDLE/"
cp packaging/linux/README-bundle.txt "$BUNDLE/README.txt"

tarball="dist/cratedigger-$VERSION-linux-$ARCH.tar.gz"
tar -C dist -czf "$tarball.part" cratedigger
mv "$tarball.part" "$tarball"

packaging/linux/appdir.sh "$BUNDLE" dist/Cratedigger.AppDir
if command -v appimagetool >/dev/null; then
    ARCH=$ARCH appimagetool --no-appstream dist/Cratedigger.AppDir "dist/Cratedigger-$VERSION-$ARCH.AppImage"
else
    echo "appimagetool is not on PATH: AppImage skipped (dist/Cratedigger.AppDir is ready for it)"
fi

echo "bundle:  $BUNDLE ($(du -sh "$BUNDLE" | cut -f1); trimmed: $(head -1 build/pyinstaller/cratedigger/trim-report.txt))"
echo "tarball: $tarball ($(du -h "$tarball" | cut -f1))"
