"""DARTS (Liu, Simonyan & Yang, ICLR 2019): the search space, the published genotypes, the
search networks with their architecture weights α, and the evaluation networks built from a
genotype. Shared by the darts-search and darts-eval plug-ins."""
