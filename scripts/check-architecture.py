#!/usr/bin/env python3
"""Keeps the code's dependencies pointing one way (run by `make test`; exits 1 naming each violation).

    features (admin, auth, billing, catalog, manage, workspaces, layout, charts)
        → backend capabilities, lowest first: tenancy → mail → identity → workspaces → billing → resellers
            → platform, clients → domain

Rules, checked on every `crate::backend::…` / `crate::<feature>::…` path in app/src:
  1. The backend never names a feature module.
  2. `backend/clients` names nothing else from the backend (a client is given what it needs).
  3. `backend/platform` names no capability and no root module (`state`, `request`, `seed`, `metrics`).
  4. A capability names only platform, clients, itself and capabilities below it; of the root modules
     only `state` (the composition root every service is handed). So capabilities form no cycle.
  5. Only `backend/request.rs` reads the Leptos request context (services take client address or origin
     as arguments, so a job calling them gets no silent `None`).
  6. No SQL outside the backend: feature folders do not use `sqlx`.
  7. `domain` is pure: it names neither the backend nor a feature.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "app" / "src"
FEATURES = ["admin", "auth", "billing", "catalog", "manage", "workspaces", "layout", "charts"]
CAPABILITIES = ["tenancy", "mail", "identity", "workspaces", "billing", "resellers"]  # lowest first
BASE = ["platform", "clients"]
ROOT_MODULES = ["state", "request", "seed", "metrics"]
ROOT_ITEMS = {"Result", "BackendError", "corrupt"}
CONTEXT = re.compile(r"use_context|expect_context|leptos_axum::|ResponseOptions|http::request::Parts")

PATH = re.compile(r"crate::(backend::)?([a-z_]+)(?:::\{([^}]*)\}|::([a-z_A-Z]+))?")


def strip_comments(text):
    return "\n".join(line.split("//", 1)[0] for line in text.split("\n"))


def names(text):
    """(kind, name) pairs: ("feature"|"domain"|"app", top module) or ("backend", backend module)."""
    out = []
    for m in PATH.finditer(text):
        if m.group(1):
            first = m.group(2)
            out.append(("backend", first))
        else:
            out.append(("app", m.group(2)))
    # `crate::backend::{a, b::c}` groups
    for m in re.finditer(r"crate::backend::\{([^;]*?)\};", text, re.S):
        for item in m.group(1).split(","):
            item = item.strip()
            if item:
                out.append(("backend", re.split(r"::|\s", item)[0]))
    return out


def area(path):
    rel = path.relative_to(ROOT).parts
    if rel[0] == "backend":
        if len(rel) == 2:
            return ("backend-root", rel[1][:-3])
        return ("backend", rel[1])
    if rel[0] == "domain":
        return ("domain", None)
    top = rel[0][:-3] if rel[0].endswith(".rs") else rel[0]
    return ("feature" if top in FEATURES else "app", top)


def main():
    errors = []
    for path in sorted(ROOT.rglob("*.rs")):
        text = strip_comments(path.read_text())
        kind, mod = area(path)
        rel = path.relative_to(ROOT.parent.parent)
        for what, name in names(text):
            if what == "app" and name == "backend":
                continue
            if kind in ("backend", "backend-root") and what == "app" and name in FEATURES:
                errors.append(f"{rel}: the backend names the feature `crate::{name}` (rule 1)")
            if kind == "domain" and (what == "backend" or (what == "app" and name in FEATURES)):
                errors.append(f"{rel}: domain names `{name}` (rule 7)")
            if kind != "backend" or what != "backend" or name in ROOT_ITEMS or name == mod:
                continue
            if mod == "clients":
                errors.append(f"{rel}: a client names `backend::{name}` (rule 2)")
            elif mod == "platform":
                if name not in BASE:
                    errors.append(f"{rel}: platform names `backend::{name}` (rule 3)")
            elif mod in CAPABILITIES:
                below = BASE + CAPABILITIES[: CAPABILITIES.index(mod)] + ["state"]
                if name not in below:
                    errors.append(f"{rel}: capability `{mod}` names `backend::{name}` (rule 4)")
        if CONTEXT.search(text) and rel.as_posix() != "app/src/backend/request.rs":
            errors.append(f"{rel}: reads the Leptos request context; only backend/request.rs may (rule 5)")
        if kind == "feature" and re.search(r"\bsqlx::", text):
            errors.append(f"{rel}: uses sqlx outside the backend (rule 6)")
    for e in sorted(set(errors)):
        print(e)
    if errors:
        print(f"check-architecture: {len(set(errors))} violation(s); see scripts/check-architecture.py")
        return 1
    print("check-architecture: dependencies point one way")
    return 0


if __name__ == "__main__":
    sys.exit(main())
