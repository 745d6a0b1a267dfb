rule summary:
    input:
        unpack(summary_inputs),
    output:
        report(
            "results/summary.tsv",
            caption="captions/summary.rst",
            category="Summary",
            labels={"table": "headline numbers"},
        ),
    log:
        "logs/summary.log",
    conda:
        "../envs/summary.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 5 * attempt,
    params:
        names=summary_names(),
    script:
        "../scripts/summary.py"
