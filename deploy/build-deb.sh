#!/bin/sh
# Build scenegen_VERSION_ARCH.deb in the project folder from a build folder
# (`make deb` calls this), with deploy/install.sh (PREFIX=/usr) and
# dpkg-deb. Prints the path of the package.
#
# usage: deploy/build-deb.sh [BUILD]      (default build)
# Environment: VERSION (default 0.1.0+git<date>.<commit>, or 0.1.0),
#   OUTDIR (default the project folder).
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$here/$build;; esac
outdir=${OUTDIR:-$here}

if [ -z "${VERSION:-}" ]; then
	VERSION=0.1.0
	if stamp=$(git -C "$here" log -1 --format=%cd.%h \
	    --date=format:%Y%m%d 2>/dev/null) && [ -n "$stamp" ]; then
		VERSION=0.1.0+git$stamp
	fi
fi
case $VERSION in
[0-9]*) ;;
*) echo "build-deb.sh: VERSION must start with a digit: $VERSION" >&2; exit 2;;
esac
arch=$(dpkg --print-architecture)

stage=$(mktemp -d "${TMPDIR:-/tmp}/scenegen-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
STRIP=1 "$here/deploy/install.sh" "$root" /usr "$build"
gzip -9n "$root"/usr/share/man/man8/*.8

# Runtime libraries: the package of every shared library the programs
# need (what dpkg-shlibdeps would find, without a debian/ folder).
needed=$(for p in "$root"/usr/sbin/*; do
	objdump -p "$p" | awk '$1 == "NEEDED" { print $2 }'
done | sort -u)
depends=
for so in $needed; do
	pkg=$(dpkg -S "*/$so" 2>/dev/null | grep ":$arch: " | head -n1 |
	    cut -d: -f1)
	if [ -z "$pkg" ]; then
		echo "build-deb.sh: no package provides $so" >&2
		exit 1
	fi
	case " $depends " in
	*" $pkg, "*) ;;
	*) depends="$depends $pkg,";;
	esac
done
depends=$(echo "$depends" | tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ')
depends="${depends}systemd (>= 247)"

size=$(du -sk "$root" | cut -f1)
install -d -m 0755 "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<CONTROL
Package: scenegen
Version: $VERSION
Architecture: $arch
Maintainer: scenegen maintainers <root@localhost>
Section: web
Priority: optional
Installed-Size: $size
Depends: $depends
Recommends: nginx | nginx-light | nginx-core, libnginx-mod-nchan
Suggests: postgresql (>= 15), redis-server (>= 7), postgresql-client, redis-tools,
 prometheus-node-exporter
Description: asynchronous scene image generation for book chapters
 scenegen takes requests for illustrations of book scenes over HTTP,
 records them in PostgreSQL, queues them in Redis and generates the
 images with the ModelsLab V7 API, with retries and progress that
 clients poll.
 .
 This package holds the FastCGI program scenegen-api (behind nginx),
 the generation daemon scenegend, the administration tool scenegenctl,
 their systemd units, the nginx site and snippets, the SQL migrations,
 the OpenAPI document and man pages.
CONTROL
(cd "$root" && find etc -type f | sed 's|^|/|' | sort) >"$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 "$here/deploy/debian/$s" "$root/DEBIAN/$s"
done
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print |
    sed 's|^\./||' | sort | xargs md5sum) >"$root/DEBIAN/md5sums"

deb=$outdir/scenegen_${VERSION}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
