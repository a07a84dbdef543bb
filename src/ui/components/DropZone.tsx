// Drag and drop anywhere on the page: a dataset file, a model folder, or a PEFT adapter folder,
// told apart by their files. While something is dragged over the window an overlay says what a
// drop will do.

import { useEffect } from 'react';
import { useStudio } from '../store/store';
import { classifyDrop, collectDrop } from './files';
import { loadDatasetFile } from '../store/dataset.actions';
import { loadModelFiles } from '../store/model.actions';
import { importAdapter } from '../store/training.actions';

const hasFiles = (e: DragEvent) => Array.from(e.dataTransfer?.types ?? []).includes('Files');

async function handleDrop(dt: DataTransfer): Promise<void> {
  const s = useStudio.getState();
  const { files } = await collectDrop(dt);
  const kind = classifyDrop(files);
  switch (kind) {
    case 'dataset':
      s.setTab('dataset');
      await loadDatasetFile(files[0].file as File);
      return;
    case 'model':
      s.setTab('model');
      await loadModelFiles(files);
      return;
    case 'adapter':
      if (s.model.status !== 'ready') {
        s.notify('error', 'That is a PEFT adapter. Load its base model first, then drop the adapter again.');
        return;
      }
      s.setTab('hparams');
      await importAdapter(files);
      return;
    case 'unknown':
      s.notify(
        'error',
        files.length === 0
          ? 'Nothing that could be read was dropped.'
          : `Not recognized: ${files
              .slice(0, 3)
              .map((f) => f.path)
              .join(
                ', ',
              )}${files.length > 3 ? '…' : ''}. Drop one .json or .jsonl dataset, a model folder (config.json, *.safetensors, tokenizer files) or a PEFT adapter folder.`,
      );
  }
}

export function DropZone() {
  const dragging = useStudio((s) => s.ui.dragging);
  useEffect(() => {
    const set = useStudio.getState().setDragging;
    let depth = 0;
    const enter = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth++;
      set(true);
    };
    const over = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    };
    const leave = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) set(false);
    };
    const drop = (e: DragEvent) => {
      if (!e.dataTransfer) return;
      e.preventDefault();
      depth = 0;
      set(false);
      void handleDrop(e.dataTransfer);
    };
    window.addEventListener('dragenter', enter);
    window.addEventListener('dragover', over);
    window.addEventListener('dragleave', leave);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragenter', enter);
      window.removeEventListener('dragover', over);
      window.removeEventListener('dragleave', leave);
      window.removeEventListener('drop', drop);
    };
  }, []);
  if (!dragging) return null;
  return (
    <div className="drop-overlay" aria-hidden="true">
      <div className="drop-card">
        <div className="drop-title">Drop to load</div>
        <div>a dataset (.json / .jsonl), a model folder, or a PEFT adapter folder</div>
      </div>
    </div>
  );
}
