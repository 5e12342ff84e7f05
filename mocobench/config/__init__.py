"""The repository's data as typed values: recipes, scales, linear and VOC protocols, the paper's figures."""
