// What the data pipeline hands the engine. Labels follow Hugging Face's convention: aligned with
// input_ids (NOT shifted), -100 where no loss is taken; the model predicts labels[t+1] from
// position t, so the loss is over pairs (t, t+1) with labels[t+1] != -100.

export const IGNORE_INDEX = -100;

/** One tokenized record. */
export interface Example {
  inputIds: Int32Array;
  labels: Int32Array;
  /** Index of the dataset record it came from. */
  record: number;
  /** The record was longer than max_seq_length and was cut. */
  truncated: boolean;
}

/**
 * A micro-batch, right-padded to seqLen (pad positions: input id padTokenId, label IGNORE_INDEX).
 * numTargets counts the (t, t+1) pairs with labels[t+1] != IGNORE_INDEX over all rows; numTokens
 * the positions that hold a record's token (padding excluded), as collate knew them.
 */
export interface Batch {
  inputIds: Int32Array; // [batchSize * seqLen]
  labels: Int32Array; // [batchSize * seqLen]
  batchSize: number;
  seqLen: number;
  numTargets: number;
  numTokens: number;
  /**
   * Packed rows only (transformers' position_ids): each example's positions count from 0, and
   * the engine restricts attention to the tokens of the same example. Absent: position t.
   */
  positionIds?: Int32Array; // [batchSize * seqLen]
}
