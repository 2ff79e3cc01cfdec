"""The message catalogs: complete in Korean with the source's placeholders, compiled, chosen in the documented
order, and every module written so that a sentence is translated when shown (never frozen at import time)."""
import ast
import gettext
from pathlib import Path

import pytest

from grader import i18n
from grader.i18n import _, choose_language, n_, normalize, placeholders, use_language
from grader.i18n.catalog import compile_catalogs, extract, extract_click, problems

GRADER = Path(i18n.__file__).resolve().parent.parent
TRANSLATING = ("_", "n_")


def test_every_sentence_has_a_korean_translation_with_the_same_placeholders():
    template = extract()
    assert len(template) > 500  # the grader's sentences are marked (not a handful)
    assert problems("ko", "grader", template) == []


def test_click_s_own_messages_have_korean_translations():
    installed = extract_click()  # from the click installed here: a newer click's new messages fail this test
    assert len(installed) > 50
    assert problems("ko", "click", installed) == []


def test_a_missing_translation_or_a_changed_placeholder_is_found(tmp_path, monkeypatch):
    po = tmp_path / "ko" / "LC_MESSAGES" / "grader.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                  'msgid "{layer} has {n} outputs"\nmsgstr "{layer}의 출력은 {count}개입니다"\n\n'
                  'msgid "Layer shapes"\nmsgstr ""\n', encoding="utf-8")
    monkeypatch.setattr("grader.i18n.catalog.LOCALE_DIR", tmp_path)
    found = problems("ko", "grader")
    assert any(p.startswith("placeholders differ: '{layer} has {n} outputs'") for p in found), found
    assert "untranslated: 'Layer shapes'" in found


def test_placeholders_are_named_fields_with_their_format():
    assert placeholders("{layer}: {loss:.4f} ({{literal}})") == {"layer", "loss:.4f"}
    assert placeholders("no fields") == set()


def test_a_translation_reorders_named_fields():
    with use_language("ko"):
        assert i18n.current_language() == "ko"
    assert i18n.current_language() == "en"
    assert _("{a} then {b}", a=1, b=2) == "1 then 2"
    assert n_("{n} file", "{n} files", 1) == "1 file" and n_("{n} file", "{n} files", 3) == "3 files"


def test_the_korean_catalog_translates_when_chosen():
    template = extract()
    message = next(m for m in template if m.id == "Layer shapes") if any(m.id == "Layer shapes" for m in template) \
        else next(m for m in template if isinstance(m.id, str) and m.id and not placeholders(m.id))
    with use_language("ko"):
        korean = _(message.id)
    assert korean != message.id and any("\uac00" <= ch <= "\ud7a3" for ch in korean)


def test_compiled_catalogs_are_what_the_wheel_ships(tmp_path):
    written = compile_catalogs(tmp_path)
    assert {p.name for p in written} == {"grader.mo", "click.mo"}
    with (tmp_path / "ko" / "LC_MESSAGES" / "grader.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    with use_language("ko"):
        for message in list(extract())[1:50]:
            key = message.id if isinstance(message.id, str) else message.id[0]
            assert compiled.gettext(key) == i18n.translations("ko").gettext(key)


@pytest.mark.parametrize(("option", "env", "course", "chosen"), [
    ("ko", {"GRADER_LANG": "en", "LANG": "en_US.UTF-8"}, "en", "ko"),
    (None, {"GRADER_LANG": "ko", "LANG": "en_US.UTF-8"}, "en", "ko"),
    (None, {"LANG": "en_US.UTF-8"}, "ko", "ko"),
    (None, {"LANG": "ko_KR.UTF-8"}, None, "ko"),
    (None, {"LC_ALL": "C", "LANG": "ko_KR.UTF-8"}, None, "en"),  # LC_ALL is set first: C means no language
    (None, {"LANGUAGE": "ko:en", "LANG": "en_US.UTF-8"}, None, "ko"),
    (None, {"LANG": "fr_FR.UTF-8"}, None, "en"),  # no French catalog: English
    (None, {}, None, "en"),
])
def test_the_language_is_chosen_in_the_documented_order(option, env, course, chosen):
    assert choose_language(option, env, course) == chosen


@pytest.mark.parametrize(("option", "env", "course"), [("fr", {}, None), (None, {"GRADER_LANG": "kr"}, None),
                                                        (None, {}, "japanese")])
def test_an_unknown_language_asked_for_is_an_error_never_silently_english(option, env, course):
    with pytest.raises(i18n.LanguageError, match="choose one of en, ko"):
        choose_language(option, env, course)


def test_locale_names_are_normalized():
    assert [normalize(x) for x in ("ko_KR.UTF-8", "ko-KR", "KO", "C", "POSIX", "", None)] == \
        ["ko", "ko", "ko", None, None, None, None]


def test_the_cache_key_of_a_language_differs_from_the_other_s():
    assert i18n.catalog_key("en") != i18n.catalog_key("ko")


def _translating_modules():
    for path in sorted([*GRADER.rglob("*.py"), *(GRADER.parent / "reference").glob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and node.module == "grader.i18n" for a in node.names}
        if imported & set(TRANSLATING):
            yield path, tree


def _bound_names(tree) -> set[str]:
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound


def test_no_translating_module_shadows_the_translation_function():
    shadowed = [str(p.relative_to(GRADER.parent)) for p, tree in _translating_modules() if "_" in _bound_names(tree)]
    assert shadowed == [], f"these modules bind '_' (a throwaway variable?), which hides grader.i18n._: {shadowed}"


def _is_translation_call(node) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (*TRANSLATING, "N_")


def test_marked_sentences_are_literals_the_extractor_can_read():
    bad = []
    for path, tree in _translating_modules():
        for node in ast.walk(tree):
            if _is_translation_call(node) and node.args and isinstance(node.args[0], ast.JoinedStr):
                bad.append(f"{path.relative_to(GRADER.parent)}:{node.lineno}")
    assert bad == [], f"an f-string inside _() is never in the catalog: {bad}"


def _import_time_nodes(tree):
    """Every node that runs when the module is imported: not inside a function body (decorators and default
    arguments do run at import)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            stack += node.decorator_list + node.args.defaults + [d for d in node.args.kw_defaults if d]
            continue
        if isinstance(node, ast.Lambda):
            continue
        yield node
        stack += list(ast.iter_child_nodes(node))


def test_no_sentence_is_translated_at_import_time():
    frozen = [f"{path.relative_to(GRADER.parent)}:{node.lineno}" for path, tree in _translating_modules()
              for node in _import_time_nodes(tree) if _is_translation_call(node) and node.func.id != "N_"]
    assert frozen == [], f"translated at import time (frozen in one language; use N_ there): {frozen}"
