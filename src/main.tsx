import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './ui/App';
import { startEffects } from './ui/store/effects';
import { useStudio } from './ui/store/store';
import { onTrainEvent } from './ui/store/training.actions';
import './ui/styles.css';

startEffects();

// For scripts/measure-responsiveness.mjs only (a build with VITE_MEASURE=1): the store and the
// training-event entry point, so it can feed a long run of simulated steps. Other builds drop it.
if (import.meta.env.VITE_MEASURE === '1') Object.assign(window, { __studio: { useStudio, onTrainEvent } });

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
