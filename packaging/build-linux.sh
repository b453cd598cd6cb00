#!/usr/bin/env bash
# ONE command from a clean checkout to signed, verified Linux artifacts:
#
#   bash packaging/build-linux.sh
#
# 1. installs the build tools (apt: dpkg-dev debsigs debsig-verify gnupg gpgv wixl
#    osslsigncode openssl; pip: the project's `build` extra, PyInstaller, into .venv);
# 2. builds the PyInstaller onedir and runs its self-test (packaging/build-onedir.sh);
# 3. builds dist/linux/closeplan-desktop_VERSION_ARCH.deb with dpkg-deb, after checking
#    that every system library the bundle loads is covered by the package's Depends;
# 4. signs it three ways: a debsigs origin signature inside the .deb, a detached
#    ASCII-armoured signature (.deb.asc) and a clear-signed SHA256SUMS. The key is made
#    here, in a temporary GNUPGHOME that is deleted at the end (or, for a real release,
#    imported from $CLOSEPLAN_SIGNING_KEY, an armoured secret key: see release.yml). Only
#    the public key and the debsig policy are written next to the artifacts;
# 5. runs packaging/verify-linux.sh --tamper-test on the result;
# 6. prints the artifact sizes and the total time.
#
# Outputs go to build/ (staging) and dist/ (artifacts), both git-ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

. packaging/lib.sh
step() { printf '\n== %s\n' "$*"; }

step "Build tools"
need=()
for tool in dpkg-deb:dpkg-dev debsigs:debsigs debsig-verify:debsig-verify gpg:gnupg gpgv:gpgv \
            wixl:wixl osslsigncode:osslsigncode openssl:openssl; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  apt_install "${need[@]}"
else
  echo "all present"
fi

step "Frozen app"
bash packaging/build-onedir.sh

VERSION="$(.venv/bin/python -c 'import closeplan_desktop as c; print(c.__version__)')"
ARCH="$(dpkg --print-architecture)"
NAME="closeplan-desktop"
ONEDIR="dist/$NAME"
OUT="dist/linux"
DEB="$OUT/${NAME}_${VERSION}_${ARCH}.deb"
STAGE="build/deb/${NAME}_${VERSION}_${ARCH}"

# System libraries the bundle needs. PyInstaller bundles most libraries it finds, but
# never glibc, the GL/EGL/Wayland/xcb core libraries; libxcb-cursor0 is opened at run time
# by the xcb plugin. The check below fails the build if ldd finds one that is not covered.
DEPENDS=(
  "libc6 (>= 2.36)" libegl1 libgl1 libglx0 libglvnd0 libdrm2
  libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon0 libxkbcommon-x11-0
  libwayland-client0 libwayland-cursor0 libwayland-egl1
  libfontconfig1 libdbus-1-3 libglib2.0-0
)
# Libraries that may be absent on the build machine, and their packages.
declare -A SONAME_PACKAGE=(
  [libxcb-keysyms.so.1]=libxcb-keysyms1 [libxcb-icccm.so.4]=libxcb-icccm4
  [libxcb-cursor.so.0]=libxcb-cursor0 [libxkbcommon-x11.so.0]=libxkbcommon-x11-0
  [libwayland-egl.so.1]=libwayland-egl1 [libwayland-cursor.so.0]=libwayland-cursor0
  [libwayland-client.so.0]=libwayland-client0 [libEGL.so.1]=libegl1 [libGL.so.1]=libgl1
  [libGLX.so.0]=libglx0 [libGLdispatch.so.0]=libglvnd0 [libdrm.so.2]=libdrm2
  [libxcb.so.1]=libxcb1
)

step "Checking Depends against ldd of every bundled library"
depends_names=" $(printf '%s\n' "${DEPENDS[@]}" | awk '{print $1}' | tr '\n' ' ') "
internal="$PWD/$ONEDIR/_internal"
uncovered=()
while read -r soname path; do
  if [ "$path" = "not" ]; then
    pkg="${SONAME_PACKAGE[$soname]:-}"
  else
    pkg="$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1 || true)"
    if [ -z "$pkg" ]; then  # merged /usr: dpkg knows the /usr/lib path
      pkg="$(dpkg -S "/usr${path#/usr}" 2>/dev/null | head -1 | cut -d: -f1 || true)"
    fi
  fi
  case "$soname" in linux-vdso.so.1|/lib64/ld-linux-*) continue ;; esac
  if [ -z "$pkg" ] || [[ "$depends_names" != *" $pkg "* ]]; then
    uncovered+=("$soname(${pkg:-unknown})")
  fi
done < <(find "$ONEDIR" -type f \( -name '*.so*' -o -name "$NAME" -o -name closeplan-admin \) \
           -exec env LD_LIBRARY_PATH="$internal" ldd {} \; 2>/dev/null \
         | awk '$2 == "=>" && $3 !~ "^'"$PWD"'" {print $1, $3}' | sort -u)
if [ ${#uncovered[@]} -gt 0 ]; then
  echo "System libraries used by the bundle but not in Depends: ${uncovered[*]}" >&2
  exit 1
fi
echo "every system library is covered: $(printf '%s, ' "${DEPENDS[@]}" | sed 's/, $//')"

step "Building $DEB"
rm -rf "$STAGE" "$OUT"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
  "$STAGE/usr/share/icons/hicolor/scalable/apps" "$STAGE/etc/closeplan" \
  "$STAGE/usr/share/doc/$NAME" "$OUT"
cp -a "$ONEDIR" "$STAGE/opt/$NAME"
ln -s "/opt/$NAME/closeplan-desktop" "$STAGE/usr/bin/closeplan-desktop"
ln -s "/opt/$NAME/closeplan-admin" "$STAGE/usr/bin/closeplan-admin"
install -m 0644 resources/closeplan-desktop.desktop "$STAGE/usr/share/applications/"
install -m 0644 resources/icons/closeplan.svg "$STAGE/usr/share/icons/hicolor/scalable/apps/"
# The conffile enforces nothing until IT edits it (every key it names is locked for users);
# the full example, every key at its default, is in /usr/share/doc.
printf '{}\n' >"$STAGE/etc/closeplan/policy.json"
chmod 0644 "$STAGE/etc/closeplan/policy.json"
install -m 0644 resources/policy.example.json "$STAGE/usr/share/doc/$NAME/policy.example.json"
cat >"$STAGE/usr/share/doc/$NAME/copyright" <<EOF
ClosePlan Desktop $VERSION. Proprietary.
Bundles Python, Qt 6 and PySide6 (LGPLv3), SQLCipher (BSD) and other open-source
libraries under their own licences (see /opt/$NAME/_internal).
EOF
chmod -R u+rwX,go+rX,go-w "$STAGE"
find "$STAGE" -type d -exec chmod 0755 {} +
installed_kb="$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)"
cat >"$STAGE/DEBIAN/control" <<EOF
Package: $NAME
Version: $VERSION
Architecture: $ARCH
Maintainer: ClosePlan IT <it@closeplan.example>
Installed-Size: $installed_kb
Section: misc
Priority: optional
Depends: $(printf '%s, ' "${DEPENDS[@]}" | sed 's/, $//')
Recommends: gnome-keyring | kwalletmanager
Homepage: https://closeplan.example
Description: ClosePlan Desktop: offline deal management for healthcare sales
 Keeps one tenant's deals in a local SQLCipher database, its keys in the OS
 keyring, decrypts PHI only in memory and logs every view of PHI in a
 hash-chained audit log. Installs closeplan-desktop (the window) and
 closeplan-admin (the command line) under /opt/$NAME.
EOF
echo "/etc/closeplan/policy.json" >"$STAGE/DEBIAN/conffiles"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' \
  | LC_ALL=C sort -z | xargs -0 md5sum >DEBIAN/md5sums)
dpkg-deb --root-owner-group -Zxz -z6 --build "$STAGE" "$DEB" >/dev/null
dpkg-deb --info "$DEB" | sed -n '/Package:/,/Recommends:/p' | sed 's/^/   /'

step "Signing (debsigs origin, detached .asc, clear-signed SHA256SUMS)"
GNUPGHOME="$(mktemp -d -t closeplan-gnupg.XXXXXX)"
export GNUPGHOME
chmod 700 "$GNUPGHOME"
# debsigs runs plain `gpg --openpgp --detach-sign`, which picks SHA-1 for an RSA key, and
# gpg rejects SHA-1 signatures when verifying: ask for SHA-512 here (debsigs ignores
# its own --gpgopts when signing).
echo "digest-algo SHA512" >"$GNUPGHOME/gpg.conf"
cleanup_gpg() { gpgconf --kill all 2>/dev/null || true; rm -rf "$GNUPGHOME"; }
trap cleanup_gpg EXIT
if [ -n "${CLOSEPLAN_SIGNING_KEY:-}" ]; then
  echo "importing the release key from \$CLOSEPLAN_SIGNING_KEY"
  printf '%s\n' "$CLOSEPLAN_SIGNING_KEY" | gpg --batch --quiet --import
else
  echo "making a throwaway signing key (this build only; never committed)"
  gpg --batch --quiet --passphrase '' --quick-gen-key \
    "ClosePlan Desktop release (throwaway build key) <release@closeplan.example>" \
    rsa3072 sign 30d
fi
FPR="$(gpg --batch --with-colons --list-secret-keys | awk -F: '$1 == "fpr" {print $10; exit}')"
KEYID="${FPR: -16}"
debsigs --sign=origin --default-key="$KEYID" "$DEB"
gpg --batch --yes --armor --local-user "$FPR" --detach-sign --output "$DEB.asc" "$DEB"
(cd "$OUT" && sha256sum "$(basename "$DEB")" >SHA256SUMS.plain)
gpg --batch --yes --local-user "$FPR" --clearsign --output "$OUT/SHA256SUMS" \
  "$OUT/SHA256SUMS.plain"
rm -f "$OUT/SHA256SUMS.plain"
gpg --batch --armor --export "$FPR" >"$OUT/closeplan-release-key.asc"
# debsig-verify's policy and keyring for this key, laid out as under /etc/debsig and
# /usr/share/debsig (IT copies them there: packaging/README.md).
mkdir -p "$OUT/debsig/policies/$KEYID" "$OUT/debsig/keyrings/$KEYID"
gpg --batch --export "$FPR" >"$OUT/debsig/keyrings/$KEYID/debsig.gpg"
sed "s/@KEYID@/$KEYID/g" packaging/debsig-policy.pol.in \
  >"$OUT/debsig/policies/$KEYID/closeplan.pol"
echo "$FPR" >"$OUT/closeplan-release-key.fingerprint"
cleanup_gpg
trap - EXIT
echo "signed with key $FPR"

step "Verifying (all three signatures, then a tampered copy must fail)"
bash packaging/verify-linux.sh --fingerprint "$FPR" --tamper-test "$DEB"

step "Artifacts"
du -sh "$ONEDIR" | sed 's/^/   onedir  /'
(cd "$OUT" && find . -type f -printf '%s\t%P\n' | sort -k2 \
  | awk -F'\t' '{ if ($1 >= 1048576) h = sprintf("%.1f MiB", $1 / 1048576);
                   else h = sprintf("%.1f KiB", $1 / 1024);
                   printf "   %10s  %10d bytes  %s\n", h, $1, $2 }')
echo
echo "Total time: $((SECONDS - started)) s"
