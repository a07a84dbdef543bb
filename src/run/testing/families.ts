// The new families' tiny model folders (testing/family-files.ts) opened as the studio opens a
// model. Node only.

import { FileSet, bytesSource } from '../../io/source';
import { openModel, type LoadedModel } from '../model';
import { familyFiles, type Family } from './family-files';

export { FAMILIES, familyFiles, type Family } from './family-files';

export async function familyModel(f: Family): Promise<{ model: LoadedModel; ids: Map<string, number> }> {
  const { files, ids } = familyFiles(f);
  const fs = new FileSet(
    files.map(([p, b]) => [p, bytesSource(b, p)]),
    f.name,
  );
  return { model: await openModel(fs), ids };
}
