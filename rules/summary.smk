rule summary:
    input:
        lambda wildcards: HEADLINES,
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
        quick=1,
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 5 * attempt,
    script:
        "../scripts/summary.py"


declare_results(rules.summary.output)
