#!/bin/sh
# Install this Cratedigger bundle for the current user (no root needed):
#   ./install.sh               copy to ~/.local/opt/cratedigger, link ~/.local/bin/cratedigger,
#                              add the menu entry, icon and AppStream metainfo (XDG data dir)
#   ./install.sh --uninstall   remove all of that (your library and models stay in the data home)
# PREFIX=/some/where ./install.sh installs under /some/where instead of ~/.local.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prefix=${PREFIX:-$HOME/.local}
dest="$prefix/opt/cratedigger"
link="$prefix/bin/cratedigger"

if [ "${1:-}" = "--uninstall" ]; then
    [ -x "$dest/cratedigger" ] && "$dest/cratedigger" install-desktop --uninstall
    [ -L "$link" ] && rm -f "$link"
    rm -rf "$dest"
    echo "Cratedigger removed from $prefix (the data home with your library is kept)"
    exit 0
fi

if [ "$here" != "$dest" ]; then
    mkdir -p "$prefix/opt"
    rm -rf "$dest.new"
    cp -a "$here" "$dest.new"
    rm -rf "$dest"
    mv "$dest.new" "$dest"
fi
mkdir -p "$prefix/bin"
ln -sf "$dest/cratedigger" "$link"
"$dest/cratedigger" install-desktop
echo "installed: $dest (command: $link)"
case ":$PATH:" in *":$prefix/bin:"*) ;; *) echo "note: $prefix/bin is not on your PATH" ;; esac
