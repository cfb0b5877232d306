# The cargo-deb the packaging scripts use: this version, installed from crates.io if missing.
CARGO_DEB_VERSION=3.7.0

ensure_cargo_deb() {
    if ! cargo deb --version 2>/dev/null | grep -qF "$CARGO_DEB_VERSION"; then
        cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked
    fi
}
