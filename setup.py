"""The wheel's one build step beyond pyproject.toml: the message catalogs (grader/i18n/locale/*/LC_MESSAGES/*.po)
compiled to .mo files inside the built package, with Babel (docs/translating.md)."""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class build_py_with_catalogs(build_py):  # noqa: N801 (setuptools' command naming)
    def run(self):
        super().run()
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        source = Path(__file__).resolve().parent / "grader" / "i18n" / "locale"
        for po in sorted(source.glob("*/LC_MESSAGES/*.po")):
            target = Path(self.build_lib) / "grader" / "i18n" / "locale" / po.relative_to(source).with_suffix(".mo")
            target.parent.mkdir(parents=True, exist_ok=True)
            with po.open("rb") as handle:
                catalog = read_po(handle, locale=po.parent.parent.name, domain=po.stem)
            with target.open("wb") as handle:
                write_mo(handle, catalog)


setup(cmdclass={"build_py": build_py_with_catalogs})
