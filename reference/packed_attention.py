"""PyTorch referee for the block-diagonal (packed-row) attention mask, float64 autograd.

Packed rows carry position_ids that restart at 0 for each example (transformers' padding-free
collation, DataCollatorWithFlattening); a query sees the keys of its own example up to itself.
The mask is built from position_ids the way the flash-attention varlen path splits sequences:
an example starts where position_ids == 0. Prints the values that
src/engine/reference/attention.test.ts checks the CPU reference against.

Run: /usr/bin/python3 reference/packed_attention.py
"""

import json

import torch

torch.set_default_dtype(torch.float64)

B, T, nH, nKV, hd = 1, 5, 2, 1, 2
position_ids = torch.tensor([[0, 1, 0, 1, 2]])


def vals(n, a, b):
    return torch.tensor([((i * a) % b - b // 2) / 10 for i in range(n)])


q = vals(B * T * nH * hd, 7, 11).view(B, T, nH, hd).transpose(1, 2).requires_grad_()
k = vals(B * T * nKV * hd, 5, 13).view(B, T, nKV, hd).transpose(1, 2).requires_grad_()
v = vals(B * T * nKV * hd, 3, 17).view(B, T, nKV, hd).transpose(1, 2).requires_grad_()
dout = vals(B * T * nH * hd, 9, 19).view(B, T, nH, hd).transpose(1, 2)

# segment id of each token: the number of example starts up to it
seg = torch.cumsum((position_ids == 0).long(), dim=-1)
i = torch.arange(T)
allowed = (seg[:, :, None] == seg[:, None, :]) & (i[None, :, None] >= i[None, None, :])
rep = nH // nKV
kr = k[:, :, None].expand(B, nKV, rep, T, hd).reshape(B, nH, T, hd)  # repeat_kv
vr = v[:, :, None].expand(B, nKV, rep, T, hd).reshape(B, nH, T, hd)
s = q @ kr.transpose(-1, -2) / hd**0.5
s = s.masked_fill(~allowed[:, None], float("-inf"))
lse = torch.logsumexp(s, dim=-1)
out = torch.softmax(s, dim=-1) @ vr
out.backward(dout)


def flat(x):  # [B, heads, T, hd] -> [B, T, heads, hd] flattened
    return x.transpose(1, 2).reshape(-1).tolist()


print(
    json.dumps(
        {
            "q": flat(q.detach()),
            "k": flat(k.detach()),
            "v": flat(v.detach()),
            "dout": flat(dout),
            "out": flat(out.detach()),
            "lse": lse.reshape(-1).tolist(),  # [B, nH, T]
            "dq": flat(q.grad),
            "dk": flat(k.grad),
            "dv": flat(v.grad),
        }
    )
)
