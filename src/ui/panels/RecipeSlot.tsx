// Where the "Export recipe" button of issue 7 (a Hugging Face + Accelerate script reproducing the
// run) goes, built on its own branch. It renders nothing until then: no placeholder poses as a
// feature. To wire it: render the recipe card here; the run's settings are in
// useStudio((s) => s.training.hparams) and the model's Hub id in s.model.summary.baseModelNameOrPath.

export function RecipeSlot() {
  return null;
}
