// The recipe's command line as the studio's pages quote it. train.py's argparse must accept these;
// recipe.test.ts checks it, so the Export card cannot tell users to pass a flag train.py rejects.

/** train.py's flag for the base model (a Hub id or a folder). */
export const RECIPE_MODEL_FLAG = '--model';
