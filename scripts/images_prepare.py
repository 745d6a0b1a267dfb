"""Image folder / manifest / simulated TIFFs → tile store, manifest and per-class QC montage."""

from dlbio.data.tiles import plot_class_montage, prepare_image_dataset, save_tile_store
from dlbio.io import log_to

log_to(snakemake.log[0])
out, name = snakemake.output, snakemake.wildcards.dataset
simulated = snakemake.input.simulated[0] if snakemake.input.simulated else None
store, manifest = prepare_image_dataset(name, snakemake.params.entry, simulated)
save_tile_store(store, out.tiles)
manifest.to_csv(out.manifest, sep="\t", index=False)
plot_class_montage(store["images"], store["labels"], store["classes"], out.montage, title=f"{name}: real tiles")
