// head_dim_256.wgsl: the register bound for head_dim 129..256 (Gemma 3); see head_dim_128.wgsl.
const MAX_H4 = 64u; // MAX_HD / 4
