// head_dim_128.wgsl: the register bound of the attention kernels that hold a head in registers
// (attention.wgsl, attention_backward.wgsl, attention_decode_rows.wgsl), prepended by their
// launchers for head_dim <= 128 (Llama, Mistral, Qwen). Function-scope arrays cannot be sized by an
// override, so the bound is a const; head_dim_256.wgsl doubles it for Gemma 3 without making every
// other model's kernels reserve twice the registers.
const MAX_H4 = 32u; // MAX_HD / 4
