"""Score one GAN run's generator and snapshots against the real test tiles; write JSON, table, figures, headline."""

import torch

from dlbio.data.tiles import load_tile_store
from dlbio.device import resolve_device
from dlbio.evaluate.evaluation_figures import plot_real_fake, plot_scores
from dlbio.evaluate.gan_evaluation import GANEvaluation
from dlbio.evaluate.summary import gan_rows, write_headline
from dlbio.io import log_to, write_json
from dlbio.train.gan import snapshot_files
from dlbio.train.tile_classifier import load_tile_classifier

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
inp, out, name = snakemake.input, snakemake.output, snakemake.wildcards.run
run = snakemake.params.entry | {"name": name}
device = resolve_device(snakemake.params.device)
classifier = load_tile_classifier(inp.classifier, device)
simulated = inp.simulated[0] if inp.simulated else None
evaluation = GANEvaluation(run, load_tile_store(inp.tiles), classifier, snakemake.params.evaluation, device, simulated)
summary, scores, fake, rows = evaluation.evaluate(inp.generator, snapshot_files(inp.snapshots))
write_json(summary, out.evaluation)
write_headline(gan_rows(name, summary), out.headline)
scores.to_csv(out.scores, sep="\t", index=False)
plot_scores(scores, out.score_plot, f"{name}: {run['arch']} / {run['algorithm']}")
plot_real_fake(evaluation.real, evaluation.labels, fake, rows, evaluation.classes, out.montage, name)
