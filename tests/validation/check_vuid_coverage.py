#!/usr/bin/env python3
"""Every Valid Usage rule of VK_KHR_external_memory_win32 (issue 3), VK_KHR_external_semaphore_win32 and
VK_KHR_external_fence_win32 (issue 11) is accounted for (DESIGN.md §3, §7).

The rules are those `tools/codegen/registry.py win32-vuids` selects from validusage.json. Fails when:
  - a rule is neither checked (its VUID is a string literal in src/layer code) nor listed in
    docs/validation.md as not checked, with a reason;
  - docs/validation.md does not list a rule, lists one twice, calls a rule checked that the code does not
    name, or calls a rule not checked that the code names;
  - a checked rule has no test in tests/ naming it;
  - src/layer code or docs/validation.md names a VUID that validusage.json does not contain.

  check_vuid_coverage.py --root <repository>              check the repository
  check_vuid_coverage.py --self-test --root <repository>  show that each of those failures is caught
"""
import argparse
import os
import re
import shutil
import sys
import tempfile

VUID = r"VUID-[A-Za-z0-9_]+-[A-Za-z0-9_]+-[A-Za-z0-9_]+"
LITERAL = re.compile(r'"(' + VUID + r')"')
ANY = re.compile(VUID)
# | `VUID-...` | checked | where | or | `VUID-...` | not checked | why |
ROW = re.compile(r"^\|\s*`?(" + VUID + r")`?\s*\|\s*(checked|not checked)\s*\|\s*(.*?)\s*\|\s*$")


def load_registry(root):
    sys.path.insert(0, os.path.join(root, "tools", "codegen"))
    import registry  # noqa: E402

    vu = registry.load_validusage()
    return [v for v, _ in registry.win32_vuids(vu)], set(registry.all_vuids(vu))


def sources(folder, extensions):
    for dirpath, _, files in os.walk(folder):
        for f in sorted(files):
            if f.endswith(extensions):
                path = os.path.join(dirpath, f)
                with open(path, encoding="utf-8") as fh:
                    yield path, fh.read()


def check(root, rules, registry):
    errors = []
    literals, mentioned = {}, {}
    for path, text in sources(os.path.join(root, "src", "layer"), (".cpp", ".hpp", ".h", ".inc")):
        for v in LITERAL.findall(text):
            literals.setdefault(v, path)
        for v in ANY.findall(text):
            mentioned.setdefault(v, path)
    tested = set()
    for _, text in sources(os.path.join(root, "tests"), (".cpp", ".hpp")):
        tested.update(LITERAL.findall(text))

    docs = {}
    doc_path = os.path.join(root, "docs", "validation.md")
    with open(doc_path, encoding="utf-8") as fh:
        doc_text = fh.read()
    for line in doc_text.splitlines():
        m = ROW.match(line)
        if not m:
            continue
        vuid, status, note = m.groups()
        if vuid in docs:
            errors.append(f"docs/validation.md lists {vuid} twice")
        docs[vuid] = (status, note)

    for v in rules:
        in_code = v in literals
        if v not in docs:
            errors.append(f"{v}: not listed in docs/validation.md" + ("" if in_code else ", and not checked"))
            continue
        status, note = docs[v]
        if status == "checked" and not in_code:
            errors.append(f"{v}: docs/validation.md says checked, but no src/layer code names it")
        if status == "not checked" and in_code:
            errors.append(f"{v}: docs/validation.md says not checked, but {literals[v]} names it")
        if status == "not checked" and len(note) < 10:
            errors.append(f"{v}: docs/validation.md gives no reason why it is not checked")
        if status == "checked" and v not in tested:
            errors.append(f"{v}: checked, but no test in tests/ names it")
    for v, path in sorted(mentioned.items()):
        if v not in registry:
            errors.append(f"{path} names {v}, which validusage.json does not contain")
    for v in sorted(set(ANY.findall(doc_text))):
        if v not in registry:
            errors.append(f"docs/validation.md names {v}, which validusage.json does not contain")
    return errors


def self_test(root, rules, registry):
    """Each kind of failure, made in a copy of the tree, must be caught."""
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "repo")
        for part in ("src/layer", "tests", "docs"):
            shutil.copytree(os.path.join(root, part), os.path.join(copy, part), symlinks=False)
        if check(copy, rules, registry):
            return ["the unmodified copy does not pass"]
        doc = os.path.join(copy, "docs", "validation.md")
        original_doc = open(doc, encoding="utf-8").read()
        extra = os.path.join(copy, "src", "layer", "zz_self_test.cpp")
        # One pair of rules from each end of the registry's order: the memory rules come first, the
        # semaphore and fence rules last, so both parts of the table are shown to be checked.
        pairs = []
        for order in (rules, rules[::-1]):
            checked = next(v for v in order if f"| `{v}` | checked |" in original_doc)
            unchecked = next(v for v in order if f"| `{v}` | not checked |" in original_doc)
            pairs.append((checked, unchecked))

        def expect(what, needle):
            errors = check(copy, rules, registry)
            if not any(needle in e for e in errors):
                failures.append(f"{what}: not caught ({errors})")

        open(extra, "w").write('const char* kBad = "VUID-VkMemoryGetWin32HandleInfoKHR-handleType-99999";\n')
        expect("a VUID the registry lacks", "does not contain")
        os.remove(extra)

        for checked, unchecked in pairs:
            open(doc, "w").write(original_doc.replace(f"| `{unchecked}` |", "| `dropped` |"))
            expect("a rule neither checked nor listed", f"{unchecked}: not listed")
            open(doc, "w").write(
                original_doc.replace(f"| `{checked}` | checked |", f"| `{checked}` | not checked |"))
            expect("a checked rule listed as not checked", f"{checked}: docs/validation.md says not checked")
            open(doc, "w").write(
                original_doc.replace(f"| `{unchecked}` | not checked |", f"| `{unchecked}` | checked |"))
            expect("a rule called checked that no code names", f"{unchecked}: docs/validation.md says checked")
            open(doc, "w").write(original_doc)

            edited = {}
            for path, text in sources(os.path.join(copy, "tests"), (".cpp", ".hpp")):
                if f'"{checked}"' in text:
                    edited[path] = text
                    open(path, "w").write(text.replace(f'"{checked}"', '"removed"'))
            expect("a checked rule without a test", f"{checked}: checked, but no test")
            for path, text in edited.items():
                open(path, "w").write(text)
    return failures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    root = os.path.realpath(args.root)
    rules, registry = load_registry(root)
    errors = self_test(root, rules, registry) if args.self_test else check(root, rules, registry)
    for e in errors:
        print("error:", e, file=sys.stderr)
    if not errors:
        print(f"{len(rules)} rules of VK_KHR_external_memory_win32, VK_KHR_external_semaphore_win32 and "
              "VK_KHR_external_fence_win32 accounted for" +
              (" (self test: every failure kind caught)" if args.self_test else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
