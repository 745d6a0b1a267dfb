"""MkDocs hook: the configuration reference page is ``config/README.md`` itself (its key tables generated from
``config/schema.yaml`` by ``docs/gen_config_reference.py``), so the site and the Snakemake workflow catalog
show one text."""

from pathlib import Path

from mkdocs.structure.files import File

REFERENCE = Path(__file__).resolve().parent.parent / "config" / "README.md"


def on_files(files, config):
    files.append(File.generated(config, "configuration.md", content=REFERENCE.read_text()))
    return files
