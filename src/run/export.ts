// What a run hands over: the Hugging Face + Accelerate recipe for the model, dataset and
// hyperparameters (the studio zips it for the Export step, `npm run train --export-recipe` writes
// it to a folder), and the hyperparameters a run continuing an imported adapter trains with.

import { withAdapterLora, type Hparams } from '../config/hparams';
import type { DatasetFormat } from '../data/formats';
import type { DatasetRecord } from '../data/parse';
import type { Adapter } from '../io/peft';
import { buildRecipe, type RecipeFiles } from '../recipe/recipe';
import type { PreparedData } from './data';
import type { LoadedModel } from './model';
import { linearModules } from '../engine/model/config';

export interface DatasetSource {
  name: string;
  format: DatasetFormat;
  records: readonly DatasetRecord[];
}

/** The recipe's files for this model, dataset (already prepared with `h`) and hyperparameters. */
export function recipeFor(model: LoadedModel, dataset: DatasetSource, data: PreparedData, h: Hparams): RecipeFiles {
  return buildRecipe({
    run: { hparams: h, baseModelNameOrPath: model.info.baseModelNameOrPath },
    linearModules: linearModules(model.checkpoint.config),
    tokenizer: model.tokenizer,
    format: model.format,
    dataset,
    data,
  });
}

/** The run's hyperparameters and starting weights when it continues `adapter` (null: a new adapter). */
export function continueFrom(h: Hparams, adapter: Adapter | null): { hparams: Hparams; initialParams?: Float32Array } {
  return adapter ? { hparams: withAdapterLora(h, adapter.spec), initialParams: adapter.flat } : { hparams: h };
}
