import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './ui/App';
import { startEffects } from './ui/store/effects';
import './ui/styles.css';

startEffects();

// For scripts/measure-responsiveness.mjs only (a build with VITE_MEASURE=1): the store and the
// training-event entry point, so it can feed a long run of simulated steps. Other builds drop it.
if (import.meta.env.VITE_MEASURE === '1') {
  void Promise.all([import('./ui/store/store'), import('./ui/store/training.actions')]).then(([store, actions]) =>
    Object.assign(window, { __studio: { useStudio: store.useStudio, onTrainEvent: actions.onTrainEvent } }),
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
