using ProxyMesh.Demo;

return await MeshDemo.RunAsync(args);
