#!/bin/sh
# Install scenegen: the programs, systemd units, nginx files, SQL, OpenAPI
# document, man pages and the settings template (`make install` calls this).
#
# usage: deploy/install.sh DESTDIR PREFIX BUILD
#   DESTDIR  staging root ("" for the real system)
#   PREFIX   e.g. /usr/local (default of make install) or /usr (the .deb)
#   BUILD    folder of the built programs, e.g. build
#
# Layout (PREFIX=/usr/local):
#   PREFIX/sbin/{scenegen-api,scenegend,scenegenctl}
#   PREFIX/lib/systemd/system/{scenegend.service,scenegen-api.service,
#       scenegen-api.socket}  (/lib/systemd/system when PREFIX=/usr)
#   PREFIX/lib/sysusers.d/scenegen.conf, PREFIX/lib/tmpfiles.d/scenegen.conf
#   PREFIX/share/scenegen/{sql/*.sql,openapi.json,scenegen.env}
#   PREFIX/share/man/man8/{scenegen-api,scenegend,scenegenctl}.8
#   PREFIX/share/doc/scenegen/INSTALL.md
#   /etc/nginx/snippets/{scenegen-api,scenegen-errors,scenegen-events-publisher,scenegen-admin}.conf
#   /etc/nginx/sites-available/scenegen
#   /etc/scenegen/scenegen.env (only if absent), /etc/scenegen/credentials/
# Paths under /usr/local/ in units, site file and man pages become PREFIX.
# Environment: STRIP=1 strips the programs.
set -eu

[ $# -eq 3 ] || { echo "usage: install.sh DESTDIR PREFIX BUILD" >&2; exit 2; }
destdir=$1
prefix=$2
build=$3
here=$(cd "$(dirname "$0")/.." && pwd)
case $prefix in
/*) ;;
*) echo "install.sh: PREFIX must be an absolute path: $prefix" >&2; exit 2;;
esac
prefix=${prefix%/}
case $build in /*) ;; *) build=$here/$build;; esac

if [ "$prefix" = /usr ]; then
	unitdir=/lib/systemd/system
else
	unitdir=$prefix/lib/systemd/system
fi
programs="scenegen-api scenegend scenegenctl"
for p in $programs; do
	if [ ! -x "$build/$p" ]; then
		echo "install.sh: $build/$p is missing: run make first" >&2
		exit 1
	fi
done

# Copy $1 to $3 with mode $2, /usr/local/ paths rewritten for PREFIX.
install_subst() {
	tmp=$(mktemp)
	sed "s|/usr/local/|$prefix/|g" "$1" >"$tmp"
	install -m "$2" "$tmp" "$3"
	rm -f "$tmp"
}

d() { install -d -m "${2:-0755}" "$destdir$1"; }

d "$prefix/sbin"
for p in $programs; do
	install -m 0755 "$build/$p" "$destdir$prefix/sbin/$p"
	if [ "${STRIP:-0}" = 1 ]; then
		strip --strip-unneeded "$destdir$prefix/sbin/$p"
	fi
done

d "$unitdir"
for u in scenegend.service scenegen-api.service scenegen-api.socket; do
	install_subst "$here/deploy/$u" 0644 "$destdir$unitdir/$u"
done
d "$prefix/lib/sysusers.d"
install -m 0644 "$here/deploy/scenegen.sysusers" \
    "$destdir$prefix/lib/sysusers.d/scenegen.conf"
d "$prefix/lib/tmpfiles.d"
install -m 0644 "$here/deploy/scenegen.tmpfiles" \
    "$destdir$prefix/lib/tmpfiles.d/scenegen.conf"

d "$prefix/share/scenegen/sql"
for f in "$here"/sql/*.sql; do
	install -m 0644 "$f" "$destdir$prefix/share/scenegen/sql/"
done
install -m 0644 "$here/openapi/openapi.json" "$destdir$prefix/share/scenegen/"
install -m 0644 "$here/deploy/scenegen.env" "$destdir$prefix/share/scenegen/"

d "$prefix/share/doc/scenegen"
install -m 0644 "$here/deploy/INSTALL.md" "$destdir$prefix/share/doc/scenegen/"

d "$prefix/share/man/man8"
for m in scenegen-api scenegend scenegenctl; do
	install_subst "$here/man/$m.8" 0644 "$destdir$prefix/share/man/man8/$m.8"
done

d "$unitdir/nginx.service.d"
install -m 0644 "$here/deploy/nginx-scenegen-events.conf" \
    "$destdir$unitdir/nginx.service.d/scenegen-events.conf"

d /etc/nginx/snippets
install -m 0644 "$here/nginx/scenegen-api.conf" "$destdir/etc/nginx/snippets/"
install -m 0644 "$here/nginx/scenegen-errors.conf" "$destdir/etc/nginx/snippets/"
install -m 0644 "$here/nginx/scenegen-admin.conf" "$destdir/etc/nginx/snippets/"
install -m 0644 "$here/nginx/scenegen-events-publisher.conf" "$destdir/etc/nginx/snippets/"
d /etc/nginx/sites-available
install_subst "$here/nginx/scenegen-site.conf" 0644 \
    "$destdir/etc/nginx/sites-available/scenegen"

d /etc/scenegen
d /etc/scenegen/credentials 0700
if [ ! -e "$destdir/etc/scenegen/scenegen.env" ]; then
	install -m 0640 "$here/deploy/scenegen.env" "$destdir/etc/scenegen/scenegen.env"
fi

if [ -z "$destdir" ]; then
	cat >&2 <<MSG
scenegen installed under $prefix. Next:
  systemd-sysusers && systemd-tmpfiles --create scenegen.conf
  edit /etc/scenegen/scenegen.env (DATABASE_URL, REDIS_URL), put the
    secrets in /etc/scenegen/credentials/ (see the file), then
  scenegenctl migrate && scenegenctl check
  systemctl daemon-reload && systemctl enable --now scenegen-api.socket scenegend
  ln -s ../sites-available/scenegen /etc/nginx/sites-enabled/ && nginx -t && systemctl reload nginx
MSG
fi
