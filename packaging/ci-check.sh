#!/usr/bin/env bash
# CI's packaging check, run by .ci/run after the test suite (bash tests/run.sh):
#   1. builds the PyInstaller onedir and runs the frozen app's --self-test under a private
#      keyring session (packaging/build-onedir.sh);
#   2. checks the Windows installer definition: wixl compiles the WiX source over the
#      onedir's file tree, osslsigncode signs and verifies the MSI (packaging/check-msi.sh);
#   3. runs the README's first command, packaging/run-demo.sh, on a real X display
#      (Xvfb with Qt's xcb plugin) until the window is painted and ready
#      (packaging/check-first-run.sh).
# It does not build or sign the .deb (packaging/build-linux.sh does, in about 5 minutes
# more, most of it xz compression).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
bash packaging/build-onedir.sh
t1=$SECONDS
bash packaging/check-msi.sh
t2=$SECONDS
bash packaging/check-first-run.sh
echo
echo "Packaging check passed: onedir + frozen self-test $((t1 - started)) s," \
     "MSI definition check $((t2 - t1)) s, first run on a real display $((SECONDS - t2)) s."
